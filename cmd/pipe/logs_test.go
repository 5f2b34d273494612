package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipe-run/pipe/executor/runlog"
)

// writeRun keeps a run with a build step that logged and a cached lint.
func writeRun(t *testing.T, runsDir, id string, started time.Time) {
	t.Helper()
	r, err := runlog.New(runsDir, id, 5)
	if err != nil {
		t.Fatal(err)
	}
	r.Emit(runlog.Event{Type: runlog.EventPipelineStarted, Time: started, Pipeline: ".pipe.yml"})
	w, err := r.Step("build")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(w, "build output of %s\n", id)
	w.Close()
	r.Emit(runlog.Event{Type: runlog.EventStepFinished, Step: "build", Status: runlog.StatusOK})
	silent, err := r.Step("quiet") // ran, printed nothing
	if err != nil {
		t.Fatal(err)
	}
	silent.Close()
	r.Emit(runlog.Event{Type: runlog.EventStepFinished, Step: "quiet", Status: runlog.StatusOK})
	r.Emit(runlog.Event{Type: runlog.EventStepFinished, Step: "lint", Status: runlog.StatusCached})
	r.Emit(runlog.Event{Type: runlog.EventPipelineFinished, Status: runlog.StatusOK})
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestPrintLogs(t *testing.T) {
	runs := t.TempDir()
	now := time.Now()
	writeRun(t, runs, "old", now.Add(-time.Hour))
	writeRun(t, runs, "new", now)
	tests := []struct {
		run, step string
		want      []string
		code      int
	}{
		{"", "build", []string{"build output of new\n"}, 0},
		{"old", "build", []string{"build output of old\n"}, 0},
		{"", "", []string{"run new of .pipe.yml: ok", "==> build (ok) <==\nbuild output of new", "==> lint (cached) <==\n(no log: step lint was cached"}, 0},
		{"", "quiet", []string{"(step quiet printed nothing in run new)"}, 0},
		{"", "nope", nil, ExitInvalid},
		{"gone", "", nil, ExitInvalid},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		o := &output{stdout: &out, stderr: &out}
		err := printLogs(o, runs, tc.run, tc.step)
		if code := exitCode(err); code != tc.code {
			t.Errorf("run %q step %q: exit %d (%v), want %d", tc.run, tc.step, code, err, tc.code)
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("run %q step %q: output lacks %q:\n%s", tc.run, tc.step, w, out.String())
			}
		}
	}
	if err := printLogs(&output{stdout: &bytes.Buffer{}}, t.TempDir(), "", ""); exitCode(err) != ExitInvalid || !strings.Contains(err.Error(), "no run kept") {
		t.Errorf("no runs: %v", err)
	}
}
