package isolation

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// SIGKILL ends init at once, and the kernel then kills every process of its
// pid namespace; init is reaped when the last of them is gone. A task stuck
// in the kernel (uninterruptible sleep, a v1 freezer left FROZEN) keeps it
// from being reaped. Waiting for it unbounded turned a rare kernel stall
// into a pipe run that never ends, with nothing said; so every wait for
// init is bounded: it kills again each round and, after initKillRounds,
// gives up with what /proc says of the tasks that are left.

// initKillRounds is how many rounds of killTimeout a container's init gets
// to be reaped after SIGKILL.
const initKillRounds = 3

// awaitInit waits until init was reaped, killing again every round.
func (c *Container) awaitInit() error {
	return awaitReaped(c.initDone, killTimeout, initKillRounds, c.killAll, c.initPid, c.spec.ID)
}

// initPid is init's pid, 0 when it never started.
func (c *Container) initPid() int {
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// awaitReaped waits for done, calling kill after each round that ends
// without it, and fails after rounds rounds with a description of pid.
func awaitReaped(done <-chan struct{}, round time.Duration, rounds int, kill func() error, pid func() int, id string) error {
	for i := 0; i < rounds; i++ {
		select {
		case <-done:
			return nil
		case <-time.After(round):
			_ = kill()
		}
	}
	select {
	case <-done:
		return nil
	default:
	}
	return fmt.Errorf("container %s: init (pid %d) was not reaped %s after SIGKILL, a task stuck in the kernel: %s"+
		"; the container's cgroup and scratch dir are left for the next pipe run to remove",
		id, pid(), time.Duration(rounds)*round, describeTask(pid()))
}

// describeTask says what the kernel shows of a task: its state, where it
// sleeps and, for root, its kernel stack.
func describeTask(pid int) string {
	if pid <= 0 {
		return "no process"
	}
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	status, err := os.ReadFile(filepath.Join(dir, "status"))
	if err != nil {
		return fmt.Sprintf("pid %d: %v", pid, err)
	}
	state := "?"
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "State:"); ok {
			state = strings.TrimSpace(v)
		}
	}
	parts := []string{"state " + state}
	if w, err := os.ReadFile(filepath.Join(dir, "wchan")); err == nil && len(w) > 0 && string(w) != "0" {
		parts = append(parts, "waiting in "+string(w))
	}
	if st, err := os.ReadFile(filepath.Join(dir, "stack")); err == nil && len(st) > 0 {
		parts = append(parts, "kernel stack: "+strings.Join(strings.Fields(string(st)), " "))
	}
	return strings.Join(parts, ", ")
}
