package runlog

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
	"unicode/utf8"
)

// Bounds of a StepLog. They keep pipe's memory bounded whatever a step prints.
const (
	// MaxLineBytes is the longest line kept; the rest is cut and the line
	// ends with "… [line cut: N bytes]".
	MaxLineBytes = 64 << 10

	// Display budget: a token bucket per step. Lines beyond it are kept in
	// the run log but not sent as events; a pipe line summarises them.
	floodBurstLines = 20000
	floodBurstBytes = 16 << 20
	floodRateLines  = 2000    // lines per second, sustained
	floodRateBytes  = 2 << 20 // bytes per second, sustained

	// Events waiting for the consumer: at most this many lines and bytes.
	queueLines = 4096
	queueBytes = 8 << 20

	// floodSummaryEvery is how often a running flood is summarised.
	floodSummaryEvery = 5 * time.Second

	// tailLines is how many of the last lines Tail can return.
	tailLines = 200
)

// StepLog turns the bytes a step writes into masked, sanitised lines. It is
// the io.Writer for BOTH the stdout and the stderr of a step's container:
// writes from the two streams are merged, in the order they arrive, into one
// stream of lines, so a secret split across writes or streams within one line
// is still masked whole.
//
// For each complete line, in order, a StepLog:
//  1. cuts it at MaxLineBytes (the tail is counted, never stored);
//  2. masks secrets (Masker.Mask), removes terminal control sequences
//     (SanitizeLine), and masks again if that changed the line;
//  3. writes it to file (the run log; the caller bounds its size, see
//     Log.Step) — so the file only ever holds masked lines;
//  4. keeps it for Tail;
//  5. sends a step_log event with Stream "output" to emit, unless the step
//     exceeds its display budget (a flood) or the consumer has fallen behind
//     by more than a bounded queue; such lines are counted, and a pipe line
//     ("… [N lines (M bytes) of output not shown ...]") says so.
//
// Write never blocks on the consumer: events go through a bounded queue to a
// goroutine of the StepLog that calls emit, so emit is called from that
// goroutine, never concurrently with itself for one StepLog. Events carry
// Type, Time, Step, Line and Stream; the caller's emit fills in RunID and
// Attempt. Close flushes the last partial line, waits until every queued
// event has been emitted, and flushes file: call it before emitting the
// step's step_finished event.
type StepLog struct {
	step string
	m    *Masker
	emit func(Event)
	file *bufio.Writer
	now  func() time.Time

	mu       sync.Mutex
	line     []byte // the current partial line, at most keep bytes
	keep     int    // MaxLineBytes plus the longest secret form
	cut      int64  // bytes of the current line beyond keep
	tail     []string
	tailNext int
	budget   floodBudget
	hidden   floodCount
	flooding bool // lines are hidden until the budget and the queue recover
	lastSum  time.Time
	fileErr  error
	closed   bool

	queue   chan *Event // pointers: a buffer of queueLines Events would be 1 MiB per step
	pending chan int    // bytes queued, as a counting semaphore
	done    chan struct{}
}

// floodCount counts lines not shown since the last summary.
type floodCount struct{ lines, bytes int64 }

// NewStepLog returns a StepLog for step that masks with m (nil: no secrets),
// sends events to emit (nil: none) and writes every line to file (nil: none).
func NewStepLog(step string, m *Masker, emit func(Event), file io.Writer) *StepLog {
	l := &StepLog{
		step:    step,
		m:       m,
		emit:    emit,
		now:     time.Now,
		keep:    MaxLineBytes + m.maxPattern(),
		queue:   make(chan *Event, queueLines),
		pending: make(chan int, 1),
		done:    make(chan struct{}),
	}
	if file != nil {
		l.file = bufio.NewWriterSize(file, 64<<10)
	}
	l.pending <- 0
	l.budget = newFloodBudget(l.now())
	go l.drain()
	return l
}

// drain emits queued events until Close.
func (l *StepLog) drain() {
	defer close(l.done)
	for e := range l.queue {
		if l.emit != nil {
			l.emit(*e)
		}
		q := <-l.pending
		l.pending <- q - len(e.Line)
	}
}

// Write adds p to the step's output. It is safe for concurrent use and
// returns len(p), or os.ErrClosed after Close.
func (l *StepLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return 0, fmt.Errorf("log of step %s: %w", l.step, os.ErrClosed)
	}
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.appendPart(p)
			break
		}
		l.appendPart(p[:i])
		l.endLine()
		p = p[i+1:]
	}
	return n, nil
}

// appendPart adds b to the current line, counting what exceeds the bound.
func (l *StepLog) appendPart(b []byte) {
	room := l.keep - len(l.line)
	if room >= len(b) {
		l.line = append(l.line, b...)
		return
	}
	if room > 0 {
		l.line = append(l.line, b[:room]...)
		b = b[room:]
	}
	l.cut += int64(len(b))
}

// endLine processes the current line and starts a new one.
func (l *StepLog) endLine() {
	total := int64(len(l.line)) + l.cut
	s := l.clean(string(l.line))
	if total > MaxLineBytes {
		s = fmt.Sprintf("%s … [line cut: %d bytes]", truncateUTF8(s, MaxLineBytes), total-MaxLineBytes)
	}
	l.line, l.cut = l.line[:0], 0
	l.deliver(s)
}

// clean masks and sanitises one raw line.
func (l *StepLog) clean(raw string) string {
	masked := l.m.Mask(raw)
	s := SanitizeLine(masked)
	if s != masked {
		s = l.m.Mask(s) // removing controls may have joined a secret
	}
	return s
}

// truncateUTF8 returns the longest prefix of s of at most n bytes that does
// not split a UTF-8 sequence.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// deliver writes one clean line to the file, the tail and the event queue.
func (l *StepLog) deliver(s string) {
	if l.file != nil && l.fileErr == nil {
		l.file.WriteString(s)
		if err := l.file.WriteByte('\n'); err != nil {
			l.fileErr = fmt.Errorf("run log of step %s: %w", l.step, err)
		}
	}
	l.addTail(s)
	now := l.now()
	ok := l.budget.take(now, len(s))
	if l.flooding && ok && l.budget.recovered() && l.queueRoom() {
		l.flooding = false
		l.summarise(now)
	}
	if l.flooding || !ok || !l.enqueue(l.event(now, s, StreamOutput)) {
		if !l.flooding {
			l.flooding, l.lastSum = true, now
		}
		l.hidden.lines++
		l.hidden.bytes += int64(len(s))
		if now.Sub(l.lastSum) >= floodSummaryEvery {
			l.summarise(now)
		}
	}
}

// queueRoom reports whether the event queue is at most half full.
func (l *StepLog) queueRoom() bool {
	q := <-l.pending
	l.pending <- q
	return len(l.queue) < queueLines/2 && q < queueBytes/2
}

// event builds a step_log event.
func (l *StepLog) event(t time.Time, line, stream string) Event {
	return Event{Type: EventStepLog, Time: t, Step: l.step, Line: line, Stream: stream}
}

// enqueue queues e for the consumer unless the queue is full.
func (l *StepLog) enqueue(e Event) bool {
	q := <-l.pending
	if q+len(e.Line) > queueBytes && q > 0 {
		l.pending <- q
		return false
	}
	select {
	case l.queue <- &e:
		l.pending <- q + len(e.Line)
		return true
	default:
		l.pending <- q
		return false
	}
}

// summarise queues a pipe line about the lines not shown, if there is room.
func (l *StepLog) summarise(now time.Time) {
	if l.hidden.lines == 0 {
		return
	}
	msg := fmt.Sprintf("… [%d lines (%d bytes) of output not shown: the step printed faster than pipe shows; `pipe logs %s` has them]", l.hidden.lines, l.hidden.bytes, l.step)
	if l.enqueue(l.event(now, msg, StreamPipe)) {
		l.hidden = floodCount{}
		l.lastSum = now
	}
}

// addTail keeps s among the last tailLines lines.
func (l *StepLog) addTail(s string) {
	if len(l.tail) < tailLines {
		l.tail = append(l.tail, s)
		return
	}
	l.tail[l.tailNext] = s
	l.tailNext = (l.tailNext + 1) % tailLines
}

// Tail returns the last n lines of output (at most 200), oldest first. Every
// line counts, also those not shown because of a flood.
func (l *StepLog) Tail(n int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	ordered := append(append([]string(nil), l.tail[l.tailNext:]...), l.tail[:l.tailNext]...)
	if n < len(ordered) {
		ordered = ordered[len(ordered)-n:]
	}
	return ordered
}

// Note sends one of pipe's own messages about the step (Stream "pipe"),
// masked and sanitised. It is not written to the run log file and is never
// dropped: it waits for room in the queue.
func (l *StepLog) Note(format string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	e := l.event(l.now(), SanitizeText(l.m.Mask(fmt.Sprintf(format, a...))), StreamPipe)
	q := <-l.pending
	l.pending <- q + len(e.Line)
	l.queue <- &e
}

// Close ends the log: the last partial line is processed, every queued event
// is emitted, and file is flushed. It returns the first error writing file.
// Close is idempotent.
func (l *StepLog) Close() error {
	l.mu.Lock()
	if !l.closed {
		if len(l.line) > 0 || l.cut > 0 {
			l.endLine()
		}
		l.summariseLast()
		l.closed = true
		close(l.queue)
	}
	l.mu.Unlock()
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file != nil && l.fileErr == nil {
		if err := l.file.Flush(); err != nil {
			l.fileErr = fmt.Errorf("run log of step %s: %w", l.step, err)
		}
	}
	return l.fileErr
}

// summariseLast queues the final flood summary, waiting for room.
func (l *StepLog) summariseLast() {
	for i := 0; l.hidden.lines > 0 && i < 1000; i++ {
		if l.summarise(l.now()); l.hidden.lines > 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

// floodBudget is a token bucket on lines and bytes.
type floodBudget struct {
	lines, bytes float64
	last         time.Time
}

func newFloodBudget(now time.Time) floodBudget {
	return floodBudget{lines: floodBurstLines, bytes: floodBurstBytes, last: now}
}

// recovered reports whether the bucket is at least half full again.
func (b *floodBudget) recovered() bool {
	return b.lines >= floodBurstLines/2 && b.bytes >= floodBurstBytes/2
}

// take spends one line of n bytes, refilling first; false when over budget.
func (b *floodBudget) take(now time.Time, n int) bool {
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.lines = min(floodBurstLines, b.lines+dt*floodRateLines)
		b.bytes = min(floodBurstBytes, b.bytes+dt*floodRateBytes)
		b.last = now
	}
	if b.lines < 1 || b.bytes < float64(n) {
		return false
	}
	b.lines--
	b.bytes -= float64(n)
	return true
}
