package isolation

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process.Signals reach an Exec'd process's group while it runs: a CI
// runner's SIGTERM on cancel lets the script's trap run.
func TestExecForwardsSignals(t *testing.T) {
	r := newTestRuntime(t)
	s := busybox(t, "/bin/true")
	s.KeepAlive = true
	c, err := r.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	if _, err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	sigs := make(chan syscall.Signal, 1)
	var out lockedBuffer
	go func() {
		for end := time.Now().Add(time.Minute); !strings.Contains(out.String(), "ready") && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		sigs <- syscall.SIGTERM
	}()
	p := Process{Args: []string{"/bin/sh", "-c", "trap 'echo got TERM; exit 9' TERM; echo ready; while :; do sleep 0.05; done"},
		Stdout: &out, Stderr: &out, Signals: sigs}
	res, err := c.Exec(context.Background(), p)
	if err != nil || res.ExitCode != 9 || !strings.Contains(out.String(), "got TERM") {
		t.Errorf("exec sent SIGTERM: %+v, %v, %q", res, err, out.String())
	}
}
