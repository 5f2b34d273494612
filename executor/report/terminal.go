package report

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"io"
	"strings"
	"time"

	"github.com/pipe-run/pipe/executor/runlog"
)

// TerminalOptions says how the terminal sink prints.
type TerminalOptions struct {
	// Color paints step names, statuses and pipe's own lines with ANSI colours.
	Color bool
	// Live keeps a status line of the running steps at the bottom of the
	// output, redrawn on every event (a terminal only: it moves the cursor).
	Live bool
	// CI is the CI host (DetectCI). In CI each step's output is printed
	// grouped when the step finishes, inside the host's log-group markers.
	CI CIHost
	// Width is the width of the live status line; 0 means 100.
	Width int
	// TailLines is how many of a failed step's last lines the end of the
	// output repeats; 0 means 20.
	TailLines int
	// NoDebugHint leaves out the "reproduce with: pipe debug <step>" line
	// after a failed step's last lines (set by pipe debug itself).
	NoDebugHint bool
	// DebugArgs are the flags the hint repeats before the step name, shell
	// quoted: "-f .github/workflows/ci.yml" when the pipeline is not the
	// default .pipe.yml.
	DebugArgs string

	stopToken string // GitHub stop-commands token; tests set it, else random
}

// Bounds of the grouped (CI) output of one step: past them the buffered
// lines are printed as a group of their own ("part N") and buffering starts
// again, so memory stays bounded whatever a step prints.
const (
	groupMaxLines = 5000
	groupMaxBytes = 1 << 20
)

// The colours of step names: one of six picked by a hash of the name, so a
// step keeps its colour from run to run. Red is left for failures.
var stepColors = [...]string{"36", "32", "35", "33", "34", "96"}

// terminalSink prints a run for people: see NewTerminalSink.
type terminalSink struct {
	w      io.Writer // clears the live status line before the first write
	raw    io.Writer
	o      TerminalOptions
	start  time.Time
	runID  string
	width  int // of the step name column
	steps  map[string]*termStep
	order  []string
	live   bool   // the status line is on screen
	status string // its text
	now    time.Time
	queued int
}

// termStep is what the terminal sink knows of one step.
type termStep struct {
	name      string
	running   bool
	started   time.Time
	done      bool
	e         runlog.Event // step_finished
	tail      []string
	group     []string  // CI: lines waiting for the step's group
	groupFrom time.Time // when the lines in group began (GitLab section start)
	groupLen  int
	parts     int
}

// NewTerminalSink returns an executor.Sink that prints a run for people.
//
// Every line of step output is printed as
//
//	<step> <elapsed> | <line>
//
// with the step's name in a stable colour (with Color) and the time since
// the run started; pipe's own lines about a step use ">" instead of "|"
// ("<step> <elapsed> > started"), and lines about the run start with "pipe:".
// Step output always carries the "<step> <elapsed> |" prefix, and its
// control characters and escape sequences were removed (executor.SanitizeLine), so a
// step can neither forge pipe's lines nor move the cursor.
//
// On a terminal (no CI) output streams as it comes; with Live a status line
// of running steps is kept at the bottom. In CI (o.CI != CINone) parallel
// steps would interleave, so each step's output is buffered and printed in
// one block when the step finishes: inside ::group:: on GitHub (wrapped in
// ::stop-commands:: with a random token so nothing a step prints is taken as
// a workflow command, plus an ::error annotation for a failure), inside a
// collapsed section on GitLab (expanded when the step failed), after a
// "--- <step>: <status>" header elsewhere. A step that prints more than 5000
// lines or 1 MiB before it finishes has that much printed as a block of its
// own ("part N"), so memory stays bounded. "started" lines print at once.
//
// At pipeline_finished it prints a summary table (step, status, duration,
// peak memory, exit code), then for each failed step its last lines and the
// `pipe debug <step>` command that reproduces it.
func NewTerminalSink(w io.Writer, o TerminalOptions) runlog.Sink {
	if o.Width <= 0 {
		o.Width = 100
	}
	if o.TailLines <= 0 {
		o.TailLines = 20
	}
	if o.CI != CINone {
		o.Live = false
	}
	if o.stopToken == "" {
		b := make([]byte, 16)
		rand.Read(b)
		o.stopToken = "pipe-" + hex.EncodeToString(b)
	}
	t := &terminalSink{raw: w, o: o, steps: map[string]*termStep{}, width: 4}
	t.w = clearingWriter{t}
	return t
}

// clearingWriter erases the live status line before passing writes on.
type clearingWriter struct{ t *terminalSink }

func (c clearingWriter) Write(p []byte) (int, error) {
	c.t.clearStatus()
	return c.t.raw.Write(p)
}

// Emit prints what e means for a person.
func (t *terminalSink) Emit(e runlog.Event) {
	t.now = e.Time
	if t.start.IsZero() {
		t.start = e.Time
	}
	switch e.Type {
	case runlog.EventPipelineStarted:
		t.start, t.runID = e.Time, e.RunID
		t.pipeLine(fmt.Sprintf("run %s: %d steps", e.RunID, e.Steps))
	case runlog.EventStepQueued:
		t.step(e.Step)
		t.queued++
	case runlog.EventStepStarted:
		t.started(e)
	case runlog.EventStepLog:
		t.logLine(e)
	case runlog.EventStepFinished:
		t.finished(e)
	case runlog.EventPipelineFinished:
		t.summary(e)
		return
	}
	t.drawStatus()
}

// step returns the record of name, adding it if new.
func (t *terminalSink) step(name string) *termStep {
	s, ok := t.steps[name]
	if !ok {
		s = &termStep{name: name}
		t.steps[name] = s
		t.order = append(t.order, name)
		t.width = min(max(t.width, len(name)), 24)
	}
	return s
}

// started prints "<step> <elapsed> > started".
func (t *terminalSink) started(e runlog.Event) {
	s := t.step(e.Step)
	s.running, s.started, s.groupFrom = true, e.Time, e.Time
	msg := "started"
	if e.Attempt > 1 {
		msg = fmt.Sprintf("started (attempt %d)", e.Attempt)
	}
	t.stepLine(s.name, e.Time, ">", msg)
}

// logLine prints (or, in CI, buffers) one line of a step's log.
func (t *terminalSink) logLine(e runlog.Event) {
	if e.Step == "" { // pipe's message about the run as a whole
		t.pipeLine(runlog.SanitizeLine(e.Line))
		return
	}
	s := t.step(e.Step)
	line, sep := runlog.SanitizeLine(e.Line), "|"
	if e.Stream == runlog.StreamPipe {
		sep = ">"
	}
	if sep == "|" {
		s.addTail(line, t.o.TailLines)
	}
	text := t.format(s.name, e.Time, sep, line)
	if t.o.CI == CINone {
		io.WriteString(t.w, text+"\n")
		return
	}
	s.group = append(s.group, text)
	if s.groupLen += len(text); len(s.group) >= groupMaxLines || s.groupLen >= groupMaxBytes {
		s.parts++
		t.printGroup(s, fmt.Sprintf("%s: output so far (part %d)", s.name, s.parts), s.groupFrom, e.Time, true)
		s.groupFrom = e.Time
	}
}

// addTail keeps line among the step's last n lines.
func (s *termStep) addTail(line string, n int) {
	if s.tail = append(s.tail, line); len(s.tail) > 2*n {
		s.tail = append(s.tail[:0], s.tail[len(s.tail)-n:]...)
	}
}

// finished prints the step's end (and, in CI, its buffered output).
func (t *terminalSink) finished(e runlog.Event) {
	s := t.step(e.Step)
	s.running, s.done, s.e = false, true, e
	s.e.Counts = nil
	verdict := t.verdict(e)
	if t.o.CI == CINone || (len(s.group) == 0 && s.parts == 0) {
		t.stepLine(s.name, e.Time, ">", verdict)
	} else {
		title := s.name + ": " + verdict
		if s.parts > 0 {
			title += fmt.Sprintf(" (part %d)", s.parts+1)
		}
		t.printGroup(s, title, s.groupFrom, e.Time, e.Status != runlog.StatusFailed)
	}
	if e.Status == runlog.StatusFailed && t.o.CI == CIGitHub {
		githubError(t.w, "step "+s.name+" failed", firstLine(t.failureReason(e)))
	}
}

// verdict says how a step ended, e.g. "ok in 3.2s" or "failed: exit code 2".
func (t *terminalSink) verdict(e runlog.Event) string {
	d := formatDuration(e.Duration)
	switch e.Status {
	case runlog.StatusOK:
		return t.paint("32", "ok") + " in " + d
	case runlog.StatusFailed:
		return t.paint("31", "failed") + " after " + d + ": " + firstLine(t.failureReason(e))
	case runlog.StatusCached:
		if e.Remote != "" {
			return t.paint("36", "cached") + " (remote " + e.Remote + ")"
		}
		if e.CachedFrom != "" {
			return t.paint("36", "cached") + " (from run " + e.CachedFrom + ")"
		}
		return t.paint("36", "cached")
	}
	v := t.paint("33", string(e.Status))
	if e.Reason != "" {
		v += ": " + runlog.SanitizeText(e.Reason)
	}
	return v
}

// failureReason is the error of a failed step, or its exit code.
func (t *terminalSink) failureReason(e runlog.Event) string {
	if e.Error != "" {
		return runlog.SanitizeText(e.Error)
	}
	return fmt.Sprintf("exit code %d", e.ExitCode)
}

// printGroup prints the buffered lines of s under title, inside the CI
// host's group markers, and empties the buffer.
// GitLab shows a section's duration from its start and end times.
func (t *terminalSink) printGroup(s *termStep, title string, from, to time.Time, collapsed bool) {
	if from.IsZero() {
		from = to
	}
	switch t.o.CI {
	case CIGitHub:
		githubGroup(t.w, title)
		t.printLines(s.group)
		githubEndGroup(t.w)
	case CIGitLab:
		name := gitlabSectionName(s.name, s.parts)
		gitlabSectionStart(t.w, from, name, title, collapsed)
		t.printLines(s.group)
		gitlabSectionEnd(t.w, to, name)
	default:
		fmt.Fprintf(t.w, "--- %s\n", title)
		t.printLines(s.group)
	}
	s.group, s.groupLen = s.group[:0], 0
}

// printLines prints formatted lines of step output; on GitHub inside
// ::stop-commands::, so that none is taken as a workflow command.
func (t *terminalSink) printLines(lines []string) {
	if len(lines) == 0 {
		return
	}
	if t.o.CI == CIGitHub {
		githubStopCommands(t.w, t.o.stopToken)
		defer githubResumeCommands(t.w, t.o.stopToken)
	}
	for _, l := range lines {
		io.WriteString(t.w, l+"\n")
	}
}

// stepLine prints one of pipe's lines about a step at once.
func (t *terminalSink) stepLine(step string, at time.Time, sep, msg string) {
	io.WriteString(t.w, t.format(step, at, sep, msg)+"\n")
}

// pipeLine prints one of pipe's lines about the run.
func (t *terminalSink) pipeLine(msg string) {
	fmt.Fprintf(t.w, "%s %s\n", t.paint("1", "pipe:"), msg)
}

// format builds "<step> <elapsed> <sep> <text>".
func (t *terminalSink) format(step string, at time.Time, sep, text string) string {
	name := fmt.Sprintf("%-*s", t.width, step)
	el := fmt.Sprintf("%6s", formatDuration(at.Sub(t.start)))
	return t.paint(stepColor(step), name) + " " + t.paint("2", el) + " " + sep + " " + text
}

// stepColor picks the colour of a step name.
func stepColor(step string) string {
	h := fnv.New32a()
	io.WriteString(h, step)
	return stepColors[h.Sum32()%uint32(len(stepColors))]
}

// paint wraps s in an SGR colour when colours are on.
func (t *terminalSink) paint(sgr, s string) string {
	if !t.o.Color {
		return s
	}
	return "\x1b[" + sgr + "m" + s + "\x1b[0m"
}

// formatDuration prints d short: "0.4s", "12.0s", "3m05s", "1h02m".
func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	}
	return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
}

// drawStatus draws the live status line (no newline: the next print
// clears it first).
func (t *terminalSink) drawStatus() {
	if !t.o.Live {
		return
	}
	var run []string
	done := 0
	for _, name := range t.order {
		switch s := t.steps[name]; {
		case s.running:
			run = append(run, fmt.Sprintf("%s %s", name, formatDuration(t.now.Sub(s.started))))
		case s.done:
			done++
		}
	}
	if len(run) == 0 {
		t.clearStatus()
		return
	}
	line := fmt.Sprintf("%d/%d done · running: %s", done, len(t.order), strings.Join(run, ", "))
	if len([]rune(line)) > t.o.Width {
		line = string([]rune(line)[:t.o.Width-1]) + "…"
	}
	if t.live && line == t.status {
		return
	}
	t.clearStatus()
	io.WriteString(t.raw, t.paint("2", line))
	t.live, t.status = true, line
}

// clearStatus erases the live status line.
func (t *terminalSink) clearStatus() {
	if t.live {
		io.WriteString(t.raw, "\r\x1b[K")
		t.live = false
	}
}
