package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pipe-run/pipe/internal/testuser"
)

// Signals reach a rootless pipe through the process outside its user
// namespace: SIGTERM cancels the run (exit 130, every step's processes
// gone), and SIGKILL of that process takes the whole namespace with it.
func TestRootlessSignals(t *testing.T) {
	needsRoot(t)
	u := testuser.New(t, true)
	bin := u.CopyExecutable(t, "pipe")
	oci := rootlessImage(t, u.Dir)
	repo := filepath.Join(u.Home, "repo")
	os.Mkdir(repo, 0o755)
	os.WriteFile(filepath.Join(repo, ".pipe.yml"), []byte("version: 1\nimage: pipe.test/busybox:rootless\nsteps:\n  long: {run: sleep 4243}\n  also: {run: sleep 4243}\n"), 0o644)
	u.Chown(t, repo)
	if out, err := u.Command(false, nil, bin, "image", "import", oci, "pipe.test/busybox:rootless").CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		cmd := u.Command(false, []string{"NO_COLOR=1"}, bin, "run", "--no-cache")
		cmd.Dir = repo
		var out syncBuffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for strings.Count(out.String(), "started") < 2 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		cmd.Process.Signal(sig) // setpriv and env exec, so this is pipe outside the namespace
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			t.Fatalf("%v: pipe did not exit\n%s", sig, out.String())
		}
		if sig == syscall.SIGTERM && cmd.ProcessState.ExitCode() != ExitInterrupted {
			t.Errorf("SIGTERM: exit %d, want 130\n%s", cmd.ProcessState.ExitCode(), out.String())
		}
		waitGone(t, sig, "sleep\x004243")
	}
}

// waitGone fails unless no process with cmdline part s is left soon.
func waitGone(t *testing.T, sig syscall.Signal, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var left []string
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		for _, p := range procs {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), s) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v: processes left: %v", sig, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
