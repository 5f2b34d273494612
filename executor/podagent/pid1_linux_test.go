//go:build linux

package podagent

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRunAsPID1 runs `pipe pod-agent run` as PID 1 of a new PID namespace,
// as in a pod's step container: once the step's main process has exited,
// every process it left (here one holding a lock on a file, in its own
// session) is gone before /.pipe/done appears, and the exit code is the
// step's.
func TestRunAsPID1(t *testing.T) {
	if os.Getenv("PIPE_TEST_ROOT") != "1" {
		t.Skip("needs root for a PID namespace: set PIPE_TEST_ROOT=1")
	}
	if os.Geteuid() != 0 {
		t.Fatal("PIPE_TEST_ROOT=1 but not running as root")
	}
	exe := buildPipe(t)
	root := t.TempDir()
	p := PathsUnder(root)
	os.MkdirAll(p.Workspace, 0o755)
	os.MkdirAll(p.State, 0o755)
	lock, acquired := filepath.Join(root, "lock"), filepath.Join(root, "acquired")
	script := `setsid flock ` + lock + ` sh -c "touch ` + acquired + `; exec sleep 300" &
		while [ ! -e ` + acquired + ` ]; do sleep 0.05; done
		exit 5`
	run := exec.Command("unshare", "--pid", "--fork", "--kill-child", exe, "pod-agent", "run", "--", "sh", "-c", script)
	run.Env = append(os.Environ(), "PIPE_AGENT_ROOT="+root)
	out, err := os.CreateTemp(root, "log")
	if err != nil {
		t.Fatal(err)
	}
	run.Stdout, run.Stderr = out, out
	if err := run.Start(); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	defer run.Process.Kill()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var done Done
	if err := waitJSON(ctx, p.Done(), &done); err != nil || done.Exit != 5 {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("done: %+v %v\n%s", done, err, b)
	}
	f, err := os.Open(lock)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Errorf("the step's leftover still holds its lock once done is written: %v", err)
	}
	writeJSONAtomic(p.Pushed(), Pushed{Unchanged: true})
	err = run.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 5 {
		b, _ := os.ReadFile(out.Name())
		t.Fatalf("run as PID 1: %v, want exit 5\n%s", err, b)
	}
	if m := termination(t, &Agent{Paths: p}); m.Exit != 5 || m.Error != "" {
		t.Errorf("termination message %+v", m)
	}
}
