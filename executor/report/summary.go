package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/pipe-run/pipe/executor/runlog"
)

// summary prints the table of steps and the failures at pipeline_finished.
func (t *terminalSink) summary(e runlog.Event) {
	if len(t.order) > 0 {
		t.table()
	}
	for _, name := range t.order {
		if s := t.steps[name]; s.done && s.e.Status == runlog.StatusFailed {
			t.failure(s)
		}
	}
	msg := fmt.Sprintf("%s in %s", t.counts(e.Counts), formatDuration(e.Duration))
	if e.Error != "" {
		msg += ": " + runlog.SanitizeText(e.Error)
	}
	t.pipeLine(msg)
}

// table prints one row per step: status, duration, peak memory, exit code.
func (t *terminalSink) table() {
	tw := tabwriter.NewWriter(t.w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tSTATUS\tDURATION\tPEAK MEM\tEXIT")
	for _, name := range t.order {
		s := t.steps[name]
		status, dur, mem, exit := "not run", "-", "-", "-"
		if s.done {
			status = string(s.e.Status)
			if s.e.Duration > 0 && s.e.Status != runlog.StatusSkipped && s.e.Status != runlog.StatusCached {
				dur = formatDuration(s.e.Duration)
			}
			if s.e.PeakMemory > 0 {
				mem = formatBytes(s.e.PeakMemory)
			}
			if s.e.Status == runlog.StatusOK || s.e.Status == runlog.StatusFailed {
				exit = fmt.Sprint(s.e.ExitCode)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, status, dur, mem, exit)
	}
	tw.Flush()
}

// failure prints the last lines of a failed step and how to reproduce it.
func (t *terminalSink) failure(s *termStep) {
	tail := s.tail
	if len(tail) > t.o.TailLines {
		tail = tail[len(tail)-t.o.TailLines:]
	}
	header := fmt.Sprintf("%s %s failed: %s", t.paint("31", "---"), s.name, firstLine(t.failureReason(s.e)))
	if len(tail) > 0 {
		header += fmt.Sprintf("; its last %d lines:", len(tail))
	}
	io.WriteString(t.w, header+"\n")
	lines := make([]string, len(tail))
	for i, l := range tail {
		lines[i] = t.paint(stepColor(s.name), s.name) + " | " + l
	}
	t.printLines(lines)
	if !t.o.NoDebugHint {
		args := ShellQuote(s.name)
		if t.o.DebugArgs != "" {
			args = t.o.DebugArgs + " " + args
		}
		fmt.Fprintf(t.w, "    reproduce with: pipe debug %s\n", args)
	}
}

// counts says how many steps ended how, e.g. "3 ok, 1 failed".
func (t *terminalSink) counts(c map[runlog.Status]int) string {
	if c == nil {
		c = map[runlog.Status]int{}
		for _, s := range t.steps {
			if s.done {
				c[s.e.Status]++
			}
		}
	}
	var parts []string
	for _, st := range []runlog.Status{runlog.StatusOK, runlog.StatusCached, runlog.StatusFailed, runlog.StatusSkipped, runlog.StatusCanceled} {
		if n := c[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	if len(parts) == 0 {
		return "no steps"
	}
	return strings.Join(parts, ", ")
}

// formatBytes prints n in KiB, MiB or GiB.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
}

// ShellQuote quotes s for a POSIX shell when it holds more than letters,
// digits and _ . / - = + : @ , (a matrix step's [ ] would glob).
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-=+:@,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
