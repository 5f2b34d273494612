package isolation

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

// Exec starts p in the running container, through the container's init:
// same namespaces, cgroup, capabilities, no_new_privs and seccomp filter as
// the main process. It works while the main process runs, and after it
// ended when the Spec has KeepAlive. It returns when p has ended; canceling
// ctx kills p's process group, and p.Signals are forwarded to it. Result has p's exit, CPU time (of p and the
// children it waited for) and wall time; memory is the container's.
func (c *Container) Exec(ctx context.Context, p Process) (Result, error) {
	if len(p.Args) == 0 {
		return Result{}, fmt.Errorf("exec in container %s: no command (Args is empty)", c.spec.ID)
	}
	select {
	case <-c.gone:
		return Result{}, fmt.Errorf("exec in container %s: the container has ended", c.spec.ID)
	default:
	}
	id, w := c.register()
	defer c.unregister(id)
	proc := procConfigOf(&p)
	proc.Size = terminalSizeOf(&p)
	var st *streams
	var fds []int
	if !p.TTY {
		var err error
		if st, err = newStreams(&p); err != nil {
			return Result{}, fmt.Errorf("exec in container %s: stdio: %w", c.spec.ID, err)
		}
		fds = st.fds()
	}
	start := time.Now()
	err := c.conn.send(&message{Kind: msgExec, ID: id, Proc: &proc}, fds...)
	if st != nil {
		st.sent()
	}
	if err != nil {
		st.abortIfAny()
		return Result{}, fmt.Errorf("exec in container %s: %w", c.spec.ID, err)
	}
	rep, err := c.awaitStart(w)
	if err != nil {
		st.abortIfAny()
		return Result{}, fmt.Errorf("exec %q in container %s: %w", p.Args[0], c.spec.ID, err)
	}
	var tty *ttySession
	if rep.master != nil {
		tty = startTTY(rep.master, &p)
	}
	return c.waitExec(ctx, id, w, p.Signals, start, st, tty)
}

func (c *Container) unregister(id int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.procs, id)
}

// waitExec waits for an Exec'd process, killing it when ctx ends.
func (c *Container) waitExec(ctx context.Context, id int, w *procWaiter, sigs <-chan syscall.Signal, start time.Time, st *streams, tty *ttySession) (Result, error) {
	var reason killReason
	var status *exitStatus
	for status == nil {
		select {
		case s := <-w.exited:
			status = &s
		case sig := <-sigs:
			_ = c.conn.send(&message{Kind: msgSignal, ID: id, Signal: int(sig)})
		case <-ctx.Done():
			if reason == notKilled {
				reason = killedCanceled
				if ctx.Err() == context.DeadlineExceeded {
					reason = killedTimeout
				}
				_ = c.conn.send(&message{Kind: msgSignal, ID: id, Signal: int(syscall.SIGKILL)})
			}
			ctx = context.Background()
		case <-c.gone:
			c.finishStreams(st, tty)
			return Result{}, fmt.Errorf("exec in container %s: the container ended while the process ran", c.spec.ID)
		}
	}
	end := time.Now()
	c.finishStreams(st, tty)
	stats, _ := c.cg.stats()
	return Result{
		ExitCode: status.Code, Signal: syscall.Signal(status.Signal),
		TimedOut: reason == killedTimeout, Canceled: reason == killedCanceled,
		CPUTime: time.Duration(status.CPU), WallTime: end.Sub(start), PeakMemory: stats.PeakMemory,
	}, nil
}
