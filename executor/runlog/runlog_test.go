package runlog

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRunLog(t *testing.T) {
	runs := t.TempDir()
	r, err := New(runs, "run1", 3)
	if err != nil {
		t.Fatal(err)
	}
	w, err := r.Step("build")
	if err != nil {
		t.Fatal(err)
	}
	l := NewStepLog("build", NewMasker([]string{testSecret}), nil, w)
	fmt.Fprintf(l, "hello %s\nbye\n", testSecret)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	for _, e := range sampleEvents() {
		r.Emit(e)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(runs, "run1", "build.log"))
	if err != nil || string(b) != "hello ***\nbye\n" {
		t.Errorf("build.log = %q, %v", b, err)
	}
	s, err := Read(runs, "run1")
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != "failed" || s.Pipeline != ".pipe.yml" || len(s.Steps) != 5 || s.Steps[0].Log != "build.log" || s.Steps[0].Status != StatusOK {
		t.Errorf("run.json: %+v", s)
	}
}

func TestRunLogKeepsLastRuns(t *testing.T) {
	runs := t.TempDir()
	base := time.Now().Add(-time.Hour)
	for i := range 5 {
		r, err := New(runs, fmt.Sprintf("run%d", i), 3)
		if err != nil {
			t.Fatal(err)
		}
		r.Emit(Event{Type: EventPipelineStarted, Time: base.Add(time.Duration(i) * time.Minute)})
		r.Close()
	}
	list, err := List(runs)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range list {
		ids = append(ids, s.RunID)
	}
	if strings.Join(ids, ",") != "run4,run3,run2" {
		t.Errorf("kept runs = %v, want run4,run3,run2 (newest first)", ids)
	}
	if _, err := New(runs, "../x", 3); err == nil {
		t.Error("a run ID with a slash was accepted")
	}
}

func TestRunLogStepCap(t *testing.T) {
	c := &cappedFile{left: 10}
	f, err := os.Create(filepath.Join(t.TempDir(), "s.log"))
	if err != nil {
		t.Fatal(err)
	}
	c.f = f
	io.WriteString(c, "0123456")
	io.WriteString(c, "789abcdef")
	c.Close()
	b, _ := os.ReadFile(f.Name())
	if !strings.HasPrefix(string(b), "0123456789\n… [log cut: 6 bytes not kept") {
		t.Errorf("capped log = %q", b)
	}
}

func TestStepLogFile(t *testing.T) {
	for step, want := range map[string]string{
		"build": "build.log", "test (go=1.22)": "test%20%28go=1.22%29.log", "a/b": "a%2Fb.log", "..": "%2E..log",
	} {
		if got := StepFile(step); got != want {
			t.Errorf("StepFile(%q) = %q, want %q", step, got, want)
		}
	}
}

func TestRunLogBatchesWrites(t *testing.T) {
	runs := t.TempDir()
	r, err := New(runs, "20260101T000000Z-00000001", 3)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(runs, "20260101T000000Z-00000001", "run.json")
	written := func() string { b, _ := os.ReadFile(path); return string(b) }
	start := written()
	r.Emit(Event{Type: EventPipelineStarted, Pipeline: ".pipe.yml", Steps: 100})
	for i := range 100 {
		r.Emit(Event{Type: EventStepFinished, Step: fmt.Sprintf("s%d", i), Status: StatusCached, Key: "k"})
	}
	if got := written(); got != start {
		t.Errorf("run.json rewritten per event, before SummaryInterval passed")
	}
	// Within about SummaryInterval, the pending changes are written.
	deadline := time.Now().Add(10 * SummaryInterval)
	for !strings.Contains(written(), `"s99"`) && time.Now().Before(deadline) {
		time.Sleep(SummaryInterval / 10)
	}
	if !strings.Contains(written(), `"s99"`) {
		t.Errorf("run.json never got the pending steps: %s", written())
	}
	r.Emit(Event{Type: EventPipelineFinished, Status: StatusOK, Counts: map[Status]int{StatusCached: 100}})
	s, err := Read(runs, "20260101T000000Z-00000001")
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != "ok" || len(s.Steps) != 100 || s.Steps[99].Status != StatusCached || s.Pipeline != ".pipe.yml" || s.Counts[StatusCached] != 100 {
		t.Errorf("run.json after pipeline_finished: %+v", s)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(runs, "*", ".run.json.*")); len(left) > 0 {
		t.Errorf("temp files left: %v", left)
	}
}

func TestRunLogPrunesByRunIDWithoutReading(t *testing.T) {
	runs := t.TempDir()
	for _, id := range []string{"20260101T000003Z-aaaa", "20260101T000001Z-bbbb", "20260101T000002Z-cccc"} {
		os.Mkdir(filepath.Join(runs, id), 0o755) // no run.json: ordered by name alone
	}
	r, err := New(runs, "20260101T000004Z-dddd", 2)
	if err != nil {
		t.Fatal(err)
	}
	// The old runs are out of the list once New returns...
	listed, err := List(runs)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range listed {
		ids = append(ids, s.RunID)
	}
	if got := strings.Join(ids, ","); got != "20260101T000004Z-dddd,20260101T000003Z-aaaa" {
		t.Errorf("pipe logs would list %s, want the newest two", got)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// ...and their files are gone once the background removal ends.
	<-r.pruned
	if got := strings.Join(dirNames(t, runs), ","); got != "20260101T000003Z-aaaa,20260101T000004Z-dddd" {
		t.Errorf("runs dir holds %s, want the newest two", got)
	}
}

// A run that exits before its removal of old runs ends leaves them under a
// dot name: the next run goes on removing them, and past keep of them it
// removes them before it starts.
func TestRunLogFinishesRemovalsLeftBehind(t *testing.T) {
	runs := t.TempDir()
	leave := func(n int) {
		for i := range n {
			d := filepath.Join(runs, fmt.Sprintf("%s20260101T00000%dZ-left", removedPrefix, i), "sub")
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(d, "a.log"), []byte("x"), 0o644)
		}
	}
	leave(2)
	r, err := New(runs, "20260101T000010Z-aaaa", 3)
	if err != nil {
		t.Fatal(err)
	}
	if listed, _ := List(runs); len(listed) != 1 {
		t.Errorf("List shows runs being removed: %+v", listed)
	}
	<-r.pruned
	if got := strings.Join(dirNames(t, runs), ","); got != "20260101T000010Z-aaaa" {
		t.Errorf("after the next run's removal the runs dir holds %s", got)
	}
	r.Close()

	leave(5) // more than keep: removed before New returns
	r, err = New(runs, "20260101T000011Z-bbbb", 3)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(dirNames(t, runs), ","); got != "20260101T000010Z-aaaa,20260101T000011Z-bbbb" {
		t.Errorf("past keep leftovers, New returned with %s in the runs dir", got)
	}
	r.Close()
	<-r.pruned
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// A run that ends within SummaryInterval writes run.json once, at its end.
func TestRunLogShortRunWritesOnce(t *testing.T) {
	runs := t.TempDir()
	const id = "20260101T000000Z-00000002"
	r, err := New(runs, id, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(runs, id, "run.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("run.json written as the run log was made (stat: %v)", err)
	}
	if listed, _ := List(runs); len(listed) != 1 || listed[0].RunID != id || listed[0].Status != "unknown" {
		t.Errorf("List before the first write: %+v", listed)
	}
	r.Emit(Event{Type: EventStepFinished, Step: "a", Status: StatusCached, Key: "k"})
	r.Emit(Event{Type: EventPipelineFinished, Status: StatusOK, Counts: map[Status]int{StatusCached: 1}})
	s, err := Read(runs, id)
	if err != nil || s.Status != "ok" || len(s.Steps) != 1 {
		t.Fatalf("run.json at pipeline_finished: %+v, %v", s, err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// A run log closed before its end still says so.
	const id2 = "20260101T000001Z-00000003"
	r2, err := New(runs, id2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := r2.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err := Read(runs, id2); err != nil || s.Status != string(StatusCanceled) {
		t.Errorf("run closed before its end: %+v, %v", s, err)
	}
}

// A step's log file is made at its first write; a retry starts it afresh,
// also when the retry prints nothing.
func TestRunLogStepFileOnFirstWrite(t *testing.T) {
	runs := t.TempDir()
	const id = "20260101T000000Z-00000004"
	r, err := New(runs, id, 3)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(runs, id, "s.log")
	w, err := r.Step("s")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("log file made before anything was written (stat: %v)", err)
	}
	fmt.Fprintln(w, "attempt 1")
	w.Close()
	if b, _ := os.ReadFile(path); string(b) != "attempt 1\n" {
		t.Errorf("log %q", b)
	}
	w, _ = r.Step("s") // the retry, silent
	w.Close()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a silent retry left the first attempt's log (stat: %v)", err)
	}
	r.Emit(Event{Type: EventPipelineFinished, Status: StatusOK})
	r.Close()
	s, err := Read(runs, id)
	if err != nil || len(s.Steps) != 1 || s.Steps[0].Log != "" {
		t.Errorf("summary of a silent step: %+v, %v", s.Steps, err)
	}
}
