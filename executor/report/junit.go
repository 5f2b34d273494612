package report

import (
	"encoding/xml"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/internal/atomicfile"
)

// junitTailLines is how many of a failed step's last lines its <failure> holds.
const junitTailLines = 50

// JUnit XML, the subset CI systems read (GitLab, Jenkins, GitHub actions
// that publish test reports): one <testsuite> for the pipeline, one
// <testcase> per step.
type junitTestSuites struct {
	XMLName  xml.Name         `xml:"testsuites"`
	Name     string           `xml:"name,attr"`
	Tests    int              `xml:"tests,attr"`
	Failures int              `xml:"failures,attr"`
	Errors   int              `xml:"errors,attr"`
	Skipped  int              `xml:"skipped,attr"`
	Time     string           `xml:"time,attr"`
	Suites   []junitTestSuite `xml:"testsuite"`
}

type junitTestSuite struct {
	Name      string          `xml:"name,attr"`
	Tests     int             `xml:"tests,attr"`
	Failures  int             `xml:"failures,attr"`
	Errors    int             `xml:"errors,attr"`
	Skipped   int             `xml:"skipped,attr"`
	Time      string          `xml:"time,attr"`
	Timestamp string          `xml:"timestamp,attr,omitempty"`
	Cases     []junitTestCase `xml:"testcase"`
}

type junitTestCase struct {
	ClassName string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitMessage `xml:"failure,omitempty"`
	Skipped   *junitMessage `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Text    string `xml:",chardata"`
}

// junitSink collects step results and writes the report on Close.
type junitSink struct {
	path string

	mu       sync.Mutex
	pipeline string
	started  time.Time
	ended    time.Time
	order    []string
	steps    map[string]*junitStep
	closed   bool
}

// junitStep is what the sink knows of one step.
type junitStep struct {
	finished bool
	e        runlog.Event // its step_finished
	tail     []string
}

// NewJUnitSink returns an executor.Sink that writes a JUnit XML report to path when
// closed: one testcase per step (classname: the pipeline file from the
// pipeline_started event, name: the step), with time in seconds; a failed
// step has a <failure> holding the last 50 lines of its log (masked, as every
// event is) and its error; skipped and canceled steps are <skipped> with the
// reason; cached steps pass and say where the result came from in
// <system-out>. A step that was queued but never finished is reported as
// skipped. The file is written atomically (temp file + rename) by Close,
// which is idempotent.
func NewJUnitSink(path string) interface {
	runlog.Sink
	Close() error
} {
	return &junitSink{path: path, steps: map[string]*junitStep{}}
}

// Emit records e.
func (j *junitSink) Emit(e runlog.Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch e.Type {
	case runlog.EventPipelineStarted:
		j.pipeline, j.started = e.Pipeline, e.Time
	case runlog.EventPipelineFinished:
		j.ended = e.Time
	case runlog.EventStepQueued, runlog.EventStepStarted:
		j.step(e.Step)
	case runlog.EventStepLog:
		if e.Step == "" { // a message about the run, not a test case
			return
		}
		s := j.step(e.Step)
		if s.tail = append(s.tail, e.Line); len(s.tail) > 2*junitTailLines {
			s.tail = append(s.tail[:0], s.tail[len(s.tail)-junitTailLines:]...)
		}
	case runlog.EventStepFinished:
		s := j.step(e.Step)
		s.finished, s.e = true, e
		s.e.Counts = nil
	}
}

// step returns the record of name, adding it if new.
func (j *junitSink) step(name string) *junitStep {
	s, ok := j.steps[name]
	if !ok {
		s = &junitStep{}
		j.steps[name] = s
		j.order = append(j.order, name)
	}
	return s
}

// Close writes the report.
func (j *junitSink) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	b, err := xml.MarshalIndent(j.report(), "", "  ")
	if err != nil {
		return fmt.Errorf("junit report: %w", err)
	}
	b = append([]byte(xml.Header), append(b, '\n')...)
	if err := atomicfile.WriteFile(j.path, b); err != nil {
		return fmt.Errorf("junit report: %w", err)
	}
	return nil
}

// report builds the XML document.
func (j *junitSink) report() junitTestSuites {
	class := j.pipeline
	if class == "" {
		class = "pipe"
	}
	suite := junitTestSuite{Name: class}
	var total time.Duration
	for _, name := range j.order {
		c := j.testCase(class, name, j.steps[name])
		suite.Tests++
		switch {
		case c.Failure != nil:
			suite.Failures++
		case c.Skipped != nil:
			suite.Skipped++
		}
		total += j.steps[name].e.Duration
		suite.Cases = append(suite.Cases, c)
	}
	if !j.started.IsZero() {
		suite.Timestamp = j.started.UTC().Format("2006-01-02T15:04:05")
		if !j.ended.IsZero() {
			total = j.ended.Sub(j.started)
		}
	}
	suite.Time = junitSeconds(total)
	return junitTestSuites{Name: "pipe", Tests: suite.Tests, Failures: suite.Failures,
		Skipped: suite.Skipped, Time: suite.Time, Suites: []junitTestSuite{suite}}
}

// testCase builds the testcase of one step.
func (j *junitSink) testCase(class, name string, s *junitStep) junitTestCase {
	c := junitTestCase{ClassName: class, Name: name, Time: junitSeconds(s.e.Duration)}
	if !s.finished {
		c.Skipped = &junitMessage{Message: "not run: the run ended before this step finished"}
		return c
	}
	e := s.e
	switch e.Status {
	case runlog.StatusFailed:
		c.Failure = &junitMessage{Message: failureMessage(e), Type: "failed", Text: failureText(e, s.tail)}
	case runlog.StatusSkipped, runlog.StatusCanceled:
		c.Skipped = &junitMessage{Message: strings.TrimSpace(string(e.Status) + ": " + e.Reason)}
	case runlog.StatusCached:
		c.SystemOut = "cached: result reused"
		if e.CachedFrom != "" {
			c.SystemOut += " from run " + e.CachedFrom
		}
	}
	return c
}

// failureMessage is the one-line summary of a failed step.
func failureMessage(e runlog.Event) string {
	if e.Error != "" {
		return firstLine(e.Error)
	}
	return fmt.Sprintf("exit code %d", e.ExitCode)
}

// failureText is the error and the last lines of a failed step's log.
func failureText(e runlog.Event, tail []string) string {
	if len(tail) > junitTailLines {
		tail = tail[len(tail)-junitTailLines:]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "step %s failed: %s\n", e.Step, failureMessage(e))
	if e.Error != "" && e.Error != firstLine(e.Error) {
		b.WriteString(e.Error + "\n")
	}
	if len(tail) > 0 {
		fmt.Fprintf(&b, "last %d lines of its log:\n%s\n", len(tail), strings.Join(tail, "\n"))
	}
	fmt.Fprintf(&b, "reproduce with: pipe debug %s\n", e.Step)
	return b.String()
}

// firstLine returns s up to its first newline.
func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// junitSeconds formats d as seconds with millisecond precision.
func junitSeconds(d time.Duration) string {
	return fmt.Sprintf("%.3f", d.Seconds())
}
