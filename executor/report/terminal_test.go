package report

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipe-run/pipe/executor/runlog"
)

// TestTerminalSinkGolden renders the sample run for each kind of output.
func TestTerminalSinkGolden(t *testing.T) {
	tests := []struct {
		name string
		o    TerminalOptions
	}{
		{"plain", TerminalOptions{}},
		{"color", TerminalOptions{Color: true}},
		{"live", TerminalOptions{Live: true, Width: 60}},
		{"ci", TerminalOptions{CI: CIGeneric}},
		{"github", TerminalOptions{CI: CIGitHub, stopToken: "pipe-TOKEN"}},
		{"gitlab", TerminalOptions{CI: CIGitLab}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			emitAll(NewTerminalSink(&b, tc.o), sampleEvents())
			out := b.String()
			if strings.Contains(out, testSecret) {
				t.Fatal("a secret reached the terminal")
			}
			checkTerminalSafety(t, tc.o, out)
			checkGolden(t, "terminal/"+tc.name+".golden", b.Bytes())
		})
	}
}

// checkTerminalSafety checks that step output cannot act on the terminal or
// the CI host.
func checkTerminalSafety(t *testing.T, o TerminalOptions, out string) {
	t.Helper()
	if strings.Contains(out, "\x1b]") {
		t.Error("an OSC sequence from a step reached the output")
	}
	if !o.Color && !o.Live && o.CI != CIGitLab && strings.Contains(out, "\x1b") {
		t.Error("escape sequences in output without colour")
	}
	inStop := false
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, "::stop-commands::"):
			inStop = true
		case line == "::pipe-TOKEN::":
			inStop = false
		case strings.HasPrefix(line, "::") && inStop:
			t.Errorf("a workflow command inside the stopped region: %q", line)
		case strings.HasPrefix(line, "::") && !strings.HasPrefix(line, "::group::") && !strings.HasPrefix(line, "::endgroup::") && !strings.HasPrefix(line, "::error "):
			t.Errorf("a step's line is a workflow command: %q", line)
		case strings.HasPrefix(line, "section_") && !strings.Contains(line, ":pipe_"):
			t.Errorf("a step's line is a GitLab section marker: %q", line)
		}
	}
}

func TestTerminalSinkFailureTail(t *testing.T) {
	var b bytes.Buffer
	s := NewTerminalSink(&b, TerminalOptions{TailLines: 3})
	t0 := time.Unix(0, 0)
	s.Emit(runlog.Event{Type: runlog.EventStepStarted, Time: t0, Step: "t"})
	for i := range 10 {
		s.Emit(runlog.Event{Type: runlog.EventStepLog, Time: t0, Step: "t", Line: fmt.Sprintf("line %d", i), Stream: runlog.StreamOutput})
	}
	s.Emit(runlog.Event{Type: runlog.EventStepFinished, Time: t0, Step: "t", Status: runlog.StatusFailed, ExitCode: 2})
	s.Emit(runlog.Event{Type: runlog.EventPipelineFinished, Time: t0, Status: runlog.StatusFailed})
	out := b.String()
	tail := out[strings.Index(out, "--- t failed"):]
	if strings.Contains(tail, "line 6") || !strings.Contains(tail, "t | line 7\nt | line 8\nt | line 9\n") {
		t.Errorf("failure tail:\n%s", tail)
	}
	if !strings.Contains(tail, "pipe debug t") {
		t.Error("no pipe debug hint")
	}
}

// TestTerminalSinkCIGroupBound checks that a step printing a lot in CI is
// printed in parts, not buffered whole.
func TestTerminalSinkCIGroupBound(t *testing.T) {
	var b bytes.Buffer
	s := NewTerminalSink(&b, TerminalOptions{CI: CIGitHub})
	t0 := time.Unix(0, 0)
	for i := range groupMaxLines + 10 {
		s.Emit(runlog.Event{Type: runlog.EventStepLog, Time: t0, Step: "big", Line: fmt.Sprint(i), Stream: runlog.StreamOutput})
	}
	if !strings.Contains(b.String(), "::group::big: output so far (part 1)") {
		t.Fatal("no partial group after groupMaxLines lines")
	}
	s.Emit(runlog.Event{Type: runlog.EventStepFinished, Time: t0, Step: "big", Status: runlog.StatusOK})
	if !strings.Contains(b.String(), "::group::big: ok in 0.0s (part 2)") {
		t.Errorf("last part not numbered:\n%s", b.String()[len(b.String())-300:])
	}
}

func TestStepColorStable(t *testing.T) {
	if stepColor("build") != stepColor("build") {
		t.Fatal("colour not stable")
	}
	seen := map[string]bool{}
	for _, n := range []string{"build", "test", "lint", "deploy", "docs", "release", "a", "b"} {
		seen[stepColor(n)] = true
	}
	if len(seen) < 3 {
		t.Errorf("only %d colours for 8 names", len(seen))
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0.0s", 1490 * time.Millisecond: "1.5s", 65 * time.Second: "1m05s", 3723 * time.Second: "1h02m", -time.Second: "0.0s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// pipe debug's own summary does not tell the user to run pipe debug.
func TestDebugTerminalSinkNoHint(t *testing.T) {
	for _, hint := range []bool{true, false} {
		var b strings.Builder
		s := NewTerminalSink(&b, TerminalOptions{NoDebugHint: !hint})
		s.Emit(runlog.Event{Type: runlog.EventStepStarted, Step: "t"})
		s.Emit(runlog.Event{Type: runlog.EventStepFinished, Step: "t", Status: runlog.StatusFailed, ExitCode: 2})
		s.Emit(runlog.Event{Type: runlog.EventPipelineFinished, Status: runlog.StatusFailed})
		if got := strings.Contains(b.String(), "reproduce with: pipe debug t"); got != hint {
			t.Errorf("NoDebugHint %v: hint printed %v:\n%s", !hint, got, b.String())
		}
	}
}

// The hint names the file and quotes a matrix step's name for the shell.
func TestDebugHintFileAndQuoting(t *testing.T) {
	var b strings.Builder
	s := NewTerminalSink(&b, TerminalOptions{DebugArgs: "-f .github/workflows/ci.yml"})
	s.Emit(runlog.Event{Type: runlog.EventStepStarted, Step: "test[n=2]"})
	s.Emit(runlog.Event{Type: runlog.EventStepFinished, Step: "test[n=2]", Status: runlog.StatusFailed, ExitCode: 2})
	s.Emit(runlog.Event{Type: runlog.EventPipelineFinished, Status: runlog.StatusFailed})
	if want := "reproduce with: pipe debug -f .github/workflows/ci.yml 'test[n=2]'\n"; !strings.Contains(b.String(), want) {
		t.Errorf("no %q in:\n%s", want, b.String())
	}
	if got := ShellQuote("it's"); got != `'it'\''s'` {
		t.Errorf("ShellQuote(it's) = %s", got)
	}
}
