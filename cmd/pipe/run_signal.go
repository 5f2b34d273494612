package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// withInterrupt returns a context cancelled by the first SIGINT, SIGTERM or
// SIGHUP. Cancelling it makes the executor kill every container and remove
// its mounts and cgroups before Run returns; while it does, further signals
// are caught (so a second Ctrl-C cannot leave a half-removed container) and
// only answered with a note. stop, as the command ends, leaves them ignored
// until pipe exits.
func withInterrupt(parent context.Context, o *output) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-ch:
			fmt.Fprintf(o.stderr, "\npipe: %v: stopping every step and cleaning up…\n", sig)
			cancel()
		case <-done:
			return
		}
		for {
			select {
			case <-ch:
				fmt.Fprintln(o.stderr, "pipe: cleaning up… (pipe exits as soon as every container is gone)")
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		close(done)
		// Called as the command ends: a signal from here to the exit is
		// ignored, not left to kill pipe with its default action.
		signal.Ignore(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
		cancel()
	}
}
