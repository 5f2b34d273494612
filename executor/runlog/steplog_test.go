package runlog

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSanitizeLine(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "hello world", "hello world"},
		{"tab kept", "a\tb", "a\tb"},
		{"colour", "\x1b[31mred\x1b[0m text", "red text"},
		{"cursor up and clear", "\x1b[2A\x1b[Kfake", "fake"},
		{"osc title bel", "\x1b]0;pwned\x07after", "after"},
		{"osc hyperlink st", "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link"},
		{"dcs", "\x1bPq#0;2;0;0;0\x1b\\x", "x"},
		{"charset", "\x1b(Babc", "abc"},
		{"two-byte esc", "\x1bcreset", "reset"},
		{"unterminated csi", "abc\x1b[12", "abc"},
		{"crlf", "line\r", "line"},
		{"progress", "10%\r50%\r100%", "100%"},
		{"cr overwrite of pipe line", "ok\rbuild 0.1s > ok", "build 0.1s > ok"},
		{"backspace", "abc\b\bd", "abcd"},
		{"bell and nul", "a\x07b\x00c", "abc"},
		{"del", "a\x7fb", "ab"},
		{"c1 csi", "a\u009b31mb", "ab"},
		{"c1 other", "a\u0085b", "ab"},
		{"bidi override", "abc\u202Efed", "abcfed"},
		{"invalid utf8", "a\xffb", "a\uFFFDb"},
		{"unicode kept", "héllo → 世界", "héllo → 世界"},
		{"gitlab marker", "section_start:1:x\r\x1b[0Kforged", "forged"},
		{"github command passes (the sink prefixes it)", "::error::x", "::error::x"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := SanitizeLine(tc.in); got != tc.want {
				t.Errorf("SanitizeLine(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// collectLog is an emit func that keeps events.
type collectLog struct {
	mu     sync.Mutex
	events []Event
}

func (c *collectLog) emit(e Event) {
	c.mu.Lock()
	c.events = append(c.events, e)
	c.mu.Unlock()
}

func (c *collectLog) lines(stream string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.events {
		if e.Stream == stream {
			out = append(out, e.Line)
		}
	}
	return out
}

func TestStepLogLongLine(t *testing.T) {
	var c collectLog
	var file bytes.Buffer
	l := NewStepLog("big", nil, c.emit, &file)
	chunk := bytes.Repeat([]byte("x"), 1<<20)
	for range 10 {
		l.Write(chunk)
	}
	l.Write([]byte("\nnext\n"))
	if cap(l.line) > 2*l.keep {
		t.Errorf("line buffer grew to %d bytes", cap(l.line))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got := c.lines(StreamOutput)
	if len(got) != 2 || got[1] != "next" {
		t.Fatalf("got %d lines", len(got))
	}
	want := fmt.Sprintf(" … [line cut: %d bytes]", 10<<20-MaxLineBytes)
	if !strings.HasSuffix(got[0], want) || len(got[0]) != MaxLineBytes+len(want) {
		t.Errorf("long line: len %d, ends %q; want suffix %q", len(got[0]), got[0][len(got[0])-40:], want)
	}
	if !strings.HasSuffix(file.String(), want+"\nnext\n") {
		t.Error("run log file does not have the cut line")
	}
}

// floodReader produces n bytes of numbered lines of lineLen bytes.
type floodReader struct {
	left, lineLen int64
	line          []byte
}

func (f *floodReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, io.EOF
	}
	if f.line == nil {
		f.line = append(bytes.Repeat([]byte("flood "), int(f.lineLen/6)+1)[:f.lineLen-1], '\n')
	}
	n := 0
	for n+len(f.line) <= len(p) && f.left > 0 {
		n += copy(p[n:], f.line)
		f.left -= int64(len(f.line))
	}
	if n == 0 {
		n = copy(p, f.line[:min(len(p), len(f.line))])
		f.left -= int64(n)
	}
	return n, nil
}

// countWriter counts bytes and newlines.
type countWriter struct{ bytes, lines atomic.Int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.bytes.Add(int64(len(p)))
	c.lines.Add(int64(bytes.Count(p, []byte{'\n'})))
	return len(p), nil
}

// TestStepLogFloodMemory pushes 1 GB of output (256 MB with -short)
// through a StepLog and checks that pipe's heap stays bounded, that the
// flood is summarised rather than emitted, and that the run log keeps every
// line.
func TestStepLogFloodMemory(t *testing.T) {
	total := int64(1 << 30)
	if testing.Short() {
		total = 256 << 20
	}
	const lineLen = 4096
	var emitted, summaries atomic.Int64
	var file countWriter
	l := NewStepLog("flood", NewMasker([]string{testSecret}), func(e Event) {
		if e.Stream == StreamPipe {
			summaries.Add(1)
		} else {
			emitted.Add(1)
		}
	}, &file)

	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	})
	if _, err := io.Copy(l, &floodReader{left: total, lineLen: lineLen}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()

	lines := total / lineLen
	if got := file.lines.Load(); got != lines {
		t.Errorf("run log has %d lines, want %d", got, lines)
	}
	if e := emitted.Load(); e >= lines/2 || e < min(floodBurstLines, floodBurstBytes/lineLen)/2 {
		t.Errorf("emitted %d of %d lines: the flood was not summarised", e, lines)
	}
	if summaries.Load() == 0 {
		t.Error("no flood summary")
	}
	const bound = 96 << 20
	if growth := int64(peak.Load()) - int64(base.HeapInuse); growth > bound {
		t.Errorf("heap grew by %d MB pushing %d MB through a StepLog; want < %d MB", growth>>20, total>>20, bound>>20)
	}
	t.Logf("%d MB, %d lines: %d emitted, %d summaries, peak heap %d MB", total>>20, lines, emitted.Load(), summaries.Load(), peak.Load()>>20)
}

// TestStepLogWriteDoesNotBlock checks that a stuck consumer does not stall
// the step: Write returns while emit is blocked.
func TestStepLogWriteDoesNotBlock(t *testing.T) {
	release := make(chan struct{})
	var emitted atomic.Int64
	l := NewStepLog("s", nil, func(Event) { <-release; emitted.Add(1) }, io.Discard)
	done := make(chan struct{})
	go func() {
		for i := range 3 * queueLines {
			fmt.Fprintf(l, "line %d\n", i)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Write blocked on a stuck consumer")
	}
	close(release)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := emitted.Load(); n < queueLines || n > queueLines+3 {
		t.Errorf("emitted %d events, want the queue (%d) plus the summary", n, queueLines)
	}
}

func TestStepLogTailAndNote(t *testing.T) {
	var c collectLog
	var file bytes.Buffer
	l := NewStepLog("s", NewMasker([]string{testSecret}), c.emit, &file)
	for i := range 300 {
		fmt.Fprintf(l, "line %d\n", i)
	}
	l.Note("retrying with %s", testSecret)
	tail := l.Tail(3)
	if strings.Join(tail, ",") != "line 297,line 298,line 299" {
		t.Errorf("Tail(3) = %q", tail)
	}
	if len(l.Tail(1000)) != tailLines {
		t.Errorf("Tail keeps %d lines, want %d", len(l.Tail(1000)), tailLines)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if notes := c.lines(StreamPipe); len(notes) != 1 || notes[0] != "retrying with ***" {
		t.Errorf("notes = %q", notes)
	}
	if strings.Contains(file.String(), "retrying") {
		t.Error("pipe's notes went to the step's log file")
	}
	if _, err := l.Write([]byte("late\n")); err == nil {
		t.Error("Write after Close succeeded")
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestStepLogConcurrentWriters(t *testing.T) {
	var c collectLog
	l := NewStepLog("s", nil, c.emit, nil)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 500 {
				fmt.Fprintf(l, "w%d-%d\n", w, i)
			}
		})
	}
	wg.Wait()
	l.Close()
	if n := len(c.lines(StreamOutput)); n != 2000 {
		t.Errorf("got %d lines, want 2000", n)
	}
}

func BenchmarkStepLog(b *testing.B) {
	l := NewStepLog("s", NewMasker([]string{testSecret}), func(Event) {}, io.Discard)
	b.SetBytes(64 << 20)
	for b.Loop() {
		io.Copy(l, &floodReader{left: 64 << 20, lineLen: 4096})
	}
	l.Close()
}

func TestIsPlain(t *testing.T) {
	for c := 0; c < 256; c++ {
		want := c == '\t' || (c >= 0x20 && c < 0x7f)
		for pos := range 17 {
			b := []byte(strings.Repeat("a", 17))
			b[pos] = byte(c)
			if got := isPlain(string(b)); got != want {
				t.Fatalf("isPlain with byte %#x at %d = %v, want %v", c, pos, got, want)
			}
		}
	}
}
