package isolation

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A container whose init SIGKILL does not get reaped (a task stuck in the
// kernel) must end its Destroy with an error that says so, not wait for
// ever. The stand-in is a process that is killed but, never waited for,
// stays a zombie: reaped never, as far as the channel knows.
func TestAwaitReapedGivesUpWithWhatTheKernelSays(t *testing.T) {
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	kills := 0
	kill := func() error { kills++; return cmd.Process.Kill() }
	_ = kill()
	err := awaitReaped(make(chan struct{}), 20*time.Millisecond, 3, kill, func() int { return cmd.Process.Pid }, "stuck")
	if err == nil {
		t.Fatal("awaitReaped returned nil for an init that was never reaped")
	}
	msg := err.Error()
	for _, want := range []string{"container stuck", "pid " + strconv.Itoa(cmd.Process.Pid), "not reaped", "state Z"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not say %q", msg, want)
		}
	}
	if kills != 4 {
		t.Errorf("killed %d times, want once and then once a round (4)", kills)
	}
}

func TestAwaitReapedReturnsOnceReaped(t *testing.T) {
	done := make(chan struct{})
	go func() { time.Sleep(30 * time.Millisecond); close(done) }()
	if err := awaitReaped(done, time.Hour, 3, func() error { return nil }, func() int { return 0 }, "x"); err != nil {
		t.Fatal(err)
	}
}
