//go:build linux

package podagent

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// termination reads the agent's termination message.
func termination(t *testing.T, a *Agent) Termination {
	t.Helper()
	b, err := os.ReadFile(a.Paths.TerminationLog)
	if err != nil {
		t.Fatal(err)
	}
	var m Termination
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("termination message %q: %v", b, err)
	}
	return m
}

func TestRunExitCodes(t *testing.T) {
	diff := Layer{Digest: testDigest, DiffID: testDiffID, Size: 9, MediaType: "application/vnd.oci.image.layer.v1.tar+zstd"}
	for _, c := range []struct {
		name      string
		argv      []string
		pushed    *Pushed
		exit      int
		wantDiff  bool
		wantError string
	}{
		{"exit 3 with a diff", []string{"sh", "-c", "exit 3"}, &Pushed{Layer: diff}, 3, true, ""},
		{"success, nothing changed", []string{"true"}, &Pushed{Unchanged: true}, 0, false, ""},
		{"killed by a signal", []string{"sh", "-c", "kill -KILL $$"}, &Pushed{Unchanged: true}, 137, false, ""},
		{"not found", []string{"/no/such/command"}, &Pushed{Unchanged: true}, 127, false, "start the step's command"},
		{"push failed", []string{"true"}, &Pushed{Error: "registry said no"}, 0, false, "push the workspace diff: registry said no"},
		{"push never reports", []string{"sh", "-c", "exit 4"}, nil, 4, false, "the push sidecar did not report within"},
		{"bad pushed.json", []string{"true"}, &Pushed{Layer: Layer{Digest: "sha256:12"}}, 0, false, "pushed.json"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := testAgent(t)
			a.PushWait = 500 * time.Millisecond
			if c.pushed != nil {
				if err := writeJSONAtomic(a.Paths.Pushed(), c.pushed); err != nil {
					t.Fatal(err)
				}
			}
			code, err := a.Run(context.Background(), c.argv)
			if err != nil || code != c.exit {
				t.Fatalf("Run: %d %v, want %d", code, err, c.exit)
			}
			var done Done
			if b, _ := os.ReadFile(a.Paths.Done()); json.Unmarshal(b, &done) != nil || done.Exit != c.exit {
				t.Errorf("done: %s", b)
			}
			m := termination(t, a)
			if m.Exit != c.exit || (m.Diff != nil) != c.wantDiff || !strings.Contains(m.Error, c.wantError) || (c.wantError == "") != (m.Error == "") {
				t.Errorf("termination message %+v", m)
			}
			if c.wantDiff && *m.Diff != diff {
				t.Errorf("diff %+v, want %+v", *m.Diff, diff)
			}
		})
	}
}

// TestRunKillsWhatTheStepLeft: a background process of the step does not
// outlive it, so nothing writes to the workspace while it is diffed.
func TestRunKillsWhatTheStepLeft(t *testing.T) {
	a := testAgent(t)
	writeJSONAtomic(a.Paths.Pushed(), Pushed{Unchanged: true})
	pidFile := filepath.Join(t.TempDir(), "pid")
	code, err := a.Run(context.Background(), []string{"sh", "-c", "sleep 300 & echo $! > " + pidFile})
	if err != nil || code != 0 {
		t.Fatalf("Run: %d %v", code, err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err := unix.Kill(pid, 0); !errors.Is(err, unix.ESRCH) {
		t.Errorf("the step's background process %d is still there: %v", pid, err)
	}
}

func TestRunNeedsArgv(t *testing.T) {
	if _, err := testAgent(t).Run(context.Background(), nil); err == nil {
		t.Error("Run with no argv")
	}
}

// TestRunReportsOOM: when the OOM killer's count rises while the step runs
// (here the step bumps a fake counter), the termination message says oom;
// a count that does not rise, or that cannot be read, says nothing.
func TestRunReportsOOM(t *testing.T) {
	for _, c := range []struct {
		name   string
		script string
		files  bool
		oom    bool
	}{
		{"count rose", `echo "oom_kill 1" > "$EVENTS"; exit 137`, true, true},
		{"count unchanged", `exit 137`, true, false},
		{"no counter", `exit 137`, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := testAgent(t)
			a.PushWait = time.Second
			writeJSONAtomic(a.Paths.Pushed(), Pushed{Unchanged: true})
			events := filepath.Join(a.Paths.Cgroup, "memory.events")
			if c.files {
				writeCgroupFile(t, filepath.Dir(a.Paths.Cgroup), "proc-cgroup", "0::/\n")
				writeCgroupFile(t, filepath.Dir(a.Paths.Cgroup), "cgroup/memory.events", "oom 0\noom_kill 0\n")
			}
			t.Setenv("EVENTS", events)
			code, err := a.Run(context.Background(), []string{"sh", "-c", c.script})
			if err != nil || code != 137 {
				t.Fatalf("Run: %d %v", code, err)
			}
			if m := termination(t, a); m.OOM != c.oom || m.Exit != 137 {
				t.Errorf("termination message %+v, want oom %v", m, c.oom)
			}
		})
	}
}
