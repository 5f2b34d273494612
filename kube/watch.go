package kube

import (
	"context"
	"time"

	"github.com/pipe-run/pipe/kube/internal/k8s/watch"
)

// listWatch lists objects (with the list's resourceVersion) and watches
// them from a resourceVersion.
type listWatch struct {
	list  func(ctx context.Context) ([]any, string, error)
	watch func(ctx context.Context, rv string) (watch.Interface, error)
}

// watchLoop feeds handle every object lw lists (as Added) and every object
// its watch delivers, until ctx ends. A watch that ends, fails or expires (410 Gone
// after a compaction) is replaced by a fresh list and watch, and so is one
// that ran for resync: a lost event costs at most resync. Failed lists are
// retried with a growing pause (at most 5s); onError hears of them.
func watchLoop(ctx context.Context, resync time.Duration, lw listWatch, handle func(watch.EventType, any), onError func(error)) {
	pause := 200 * time.Millisecond
	for ctx.Err() == nil {
		objs, rv, err := lw.list(ctx)
		if err != nil {
			if ctx.Err() == nil && onError != nil {
				onError(err)
			}
			sleep(ctx, pause)
			pause = min(2*pause, 5*time.Second)
			continue
		}
		pause = 200 * time.Millisecond
		for _, o := range objs {
			handle(watch.Added, o)
		}
		watchOnce(ctx, resync, lw, rv, handle)
	}
}

// watchOnce runs one watch from rv until it ends or resync passes.
func watchOnce(ctx context.Context, resync time.Duration, lw listWatch, rv string, handle func(watch.EventType, any)) {
	wctx, cancel := context.WithTimeout(ctx, resync)
	defer cancel()
	w, err := lw.watch(wctx, rv)
	if err != nil {
		sleep(ctx, 200*time.Millisecond)
		return
	}
	defer w.Stop()
	for {
		select {
		case <-wctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok || ev.Type == watch.Error {
				return
			}
			if ev.Type == watch.Bookmark {
				continue
			}
			handle(ev.Type, ev.Object)
		}
	}
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
