package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	apierrors "github.com/pipe-run/pipe/kube/internal/k8s/apierrors"
	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
)

// kubeletLog renders lines the way the kubelet serves them with
// timestamps=true: "<RFC3339Nano> <text>".
func kubeletLog(base time.Time, lines ...string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = base.Add(time.Duration(i)*100*time.Millisecond).Format(time.RFC3339Nano) + " " + l
	}
	return out
}

// since is what the kubelet serves for sinceTime t: every line of that
// second on (sinceTime has whole seconds on the wire).
func since(lines []string, t time.Time) string {
	var b strings.Builder
	for _, l := range lines {
		ts, _ := time.Parse(time.RFC3339Nano, strings.SplitN(l, " ", 2)[0])
		if !ts.Before(t.Truncate(time.Second)) {
			b.WriteString(l)
		}
	}
	return b.String()
}

// brokenReader yields s and then an error, like a connection that drops.
type brokenReader struct{ r io.Reader }

func (b *brokenReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if errors.Is(err, io.EOF) {
		return n, errors.New("connection reset")
	}
	return n, err
}

func TestLogCursorReconnectWritesNoLineTwice(t *testing.T) {
	base := time.Date(2026, 11, 28, 12, 0, 0, 500_000_000, time.UTC)
	var want []string
	for i := 0; i < 30; i++ {
		want = append(want, fmt.Sprintf("line %d\n", i))
	}
	lines := kubeletLog(base, want...)
	full := strings.Join(lines, "")
	var out strings.Builder
	c := &logCursor{out: &out}
	// Break the stream at every byte offset in turn, then reopen it.
	for cut := 0; cut <= len(full); cut += 7 {
		out.Reset()
		*c = logCursor{out: &out}
		err := c.read(&brokenReader{strings.NewReader(full[:cut])})
		if err == nil {
			t.Fatal("a broken stream read without error")
		}
		if err := c.read(strings.NewReader(sinceOrAll(lines, c))); err != nil {
			t.Fatal(err)
		}
		if got := out.String(); got != strings.Join(want, "") {
			t.Fatalf("cut at %d: got\n%s\nwant\n%s", cut, got, strings.Join(want, ""))
		}
	}
}

func sinceOrAll(lines []string, c *logCursor) string {
	if s := c.since(); s != nil {
		return since(lines, s.Time)
	}
	return strings.Join(lines, "")
}

func TestLogCursorSameInstantAndPartialLine(t *testing.T) {
	ts := time.Date(2026, 11, 28, 12, 0, 0, 123, time.UTC).Format(time.RFC3339Nano)
	stream := ts + " a\n" + ts + " b\n" + ts + " c\n" + ts + " no newline at the end"
	var out strings.Builder
	c := &logCursor{out: &out}
	if err := c.read(strings.NewReader(stream[:len(ts)+9])); err != nil { // "a\nb"... cut inside b's line
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ { // reopened three times: nothing new appears twice
		if err := c.read(strings.NewReader(stream)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := out.String(), "a\nb\nc\nno newline at the end"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLogCursorForeignLinesPassThrough(t *testing.T) {
	var out strings.Builder
	c := &logCursor{out: &out}
	_ = c.read(strings.NewReader("not a timestamp\n"))
	if out.String() != "not a timestamp\n" {
		t.Errorf("got %q", out.String())
	}
}

// forbiddenLogs is an API client whose every log request is refused.
type forbiddenLogs struct{ apiClient }

func (forbiddenLogs) podLogs(ctx context.Context, ns, name string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	return nil, apierrors.NewForbidden("pods/log", name, errors.New("RBAC: no get on pods/log"))
}

// A log the account may not read is not retried for the step's whole
// life in silence: the streamer gives up at once and the run is told why,
// with the right that is missing.
func TestLogForbiddenIsReported(t *testing.T) {
	b, _, rec := fakeBackend(t)
	b.client = forbiddenLogs{b.client}
	a := &attempt{b: b, s: simpleStep(), pod: "p"}
	a.startLogs(context.Background()) // the step still runs: done never reports its end
	select {
	case <-a.logsDone:
	case <-time.After(time.Minute): // a liveness guard, far above the few ms it takes
		t.Fatal("the log streamer still retries a refused log")
	}
	var got []Event
	for _, e := range rec.list() {
		if e.Reason == "LogForbidden" {
			got = append(got, e)
		}
	}
	if len(got) != 1 || got[0].Type != EventWarning || got[0].Pod != "p" || !strings.Contains(got[0].Message, "pods/log in namespace "+testNS) {
		t.Fatalf("events %+v, want one LogForbidden warning naming pods/log and the namespace", rec.list())
	}
}
