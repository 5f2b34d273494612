package podagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Run is the step container's entrypoint: it runs argv as its child with
// the container's environment and stdio, forwarding SIGTERM, SIGINT,
// SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to it and reaping every zombie (it
// is PID 1 there). When the child exits, what it left running is killed
// (as a container's processes die with its init), /.pipe/done is written,
// Run waits (PushWait at most) for the push sidecar's pushed.json and
// writes the termination message, which says "oom" when the OOM killer's
// count of the container's memory cgroup rose while the child ran. It returns the exit code the container
// must exit with: the child's, or 128+N if signal N killed it; 127 or 126
// if argv could not be started (the error says why).
//
// When Run itself was told to stop (a forwarded SIGTERM or SIGINT), it does
// not wait for the push: the pod is going away.
func (a *Agent) Run(ctx context.Context, argv []string) (int, error) {
	if len(argv) == 0 {
		return 0, errors.New("pod-agent run: no command to run (usage: pipe pod-agent run -- ARGV...)")
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwardedSignals()...)
	defer signal.Stop(sigs)
	before, counted := a.Paths.oomKills()
	res := runChild(ctx, argv, sigs, a.logf)
	msg := Termination{Exit: res.exit}
	if after, ok := a.Paths.oomKills(); counted && ok && after > before {
		msg.OOM = true
	}
	if res.err != nil {
		msg.Error = res.err.Error()
		a.logf("%v", res.err)
	}
	if err := writeJSONAtomic(a.Paths.Done(), Done{Exit: res.exit}); err != nil {
		msg.Error = joinMsg(msg.Error, err.Error())
		return res.exit, a.terminate(msg, err)
	}
	if res.stopped {
		msg.Error = joinMsg(msg.Error, "the step was stopped by a signal; its diff was not waited for")
		return res.exit, a.terminate(msg, nil)
	}
	waitCtx, stop := stopOnSignal(ctx, sigs)
	defer stop()
	pushed, err := a.waitPushed(waitCtx)
	switch {
	case err != nil:
		msg.Error = joinMsg(msg.Error, err.Error())
	case pushed.Error != "":
		msg.Error = joinMsg(msg.Error, "push the workspace diff: "+pushed.Error)
	case !pushed.Unchanged:
		l := pushed.Layer
		msg.Diff = &l
	}
	return res.exit, a.terminate(msg, nil)
}

// childResult is how the child ended.
type childResult struct {
	exit    int
	err     error // the child could not be started
	stopped bool  // a terminating signal was forwarded to it
}

// waitPushed waits for pushed.json, PushWait at most.
func (a *Agent) waitPushed(ctx context.Context) (Pushed, error) {
	wait := a.PushWait
	if wait <= 0 {
		wait = DefaultPushWait
	}
	ctx, cancel := context.WithTimeoutCause(ctx, wait, fmt.Errorf("the push sidecar did not report within %s (see the pipe-push container's log)", wait))
	defer cancel()
	var p Pushed
	if err := waitJSON(ctx, a.Paths.Pushed(), &p); err != nil {
		return Pushed{}, fmt.Errorf("wait for the workspace diff: %w", err)
	}
	if p.Error == "" && !p.Unchanged {
		if err := p.Layer.check(); err != nil {
			return Pushed{}, fmt.Errorf("%s: %w", a.Paths.Pushed(), err)
		}
	}
	return p, nil
}

// terminate writes the termination message; err, if any, is returned
// joined with a failure to write it.
func (a *Agent) terminate(msg Termination, err error) error {
	if werr := os.WriteFile(a.Paths.TerminationLog, msg.encode(), 0o644); werr != nil {
		return errors.Join(err, fmt.Errorf("write the termination message: %w", werr))
	}
	return err
}

// joinMsg joins two error messages with "; ".
func joinMsg(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// stopOnSignal is ctx, canceled when SIGTERM or SIGINT arrives on sigs.
func stopOnSignal(ctx context.Context, sigs <-chan os.Signal) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		for {
			select {
			case s := <-sigs:
				if s == os.Interrupt || s == syscall.SIGTERM {
					cancel(fmt.Errorf("stopped by %s", s))
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	return ctx, func() { cancel(nil) }
}
