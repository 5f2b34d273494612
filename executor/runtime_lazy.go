package executor

import (
	"context"
	"errors"
	"sync"

	"github.com/pipe-run/pipe/isolation"
)

// LazyRuntime is a Runtime that opens the real one on first use: a run
// whose steps are all cache hits starts no container and so never pays for
// opening a runtime (isolation.New seals a copy of the pipe binary, compiles
// seccomp, cleans up after dead pipe processes and prepares network
// namespaces: tens of milliseconds). Its methods are safe for concurrent
// use. An error opening the runtime is returned by every call, not retried.
type LazyRuntime struct {
	open func() (Runtime, func() error, error)

	mu     sync.Mutex
	done   bool // open was called (or Close came first)
	rt     Runtime
	close  func() error
	err    error
	closed bool

	prefetching bool // Prefetch was called

	// emu guards expect and expecter apart from mu, which an open in the
	// background holds for tens of milliseconds: Expect never waits for it.
	emu      sync.Mutex
	expect   int      // the last Expect, -1 if none
	expecter expecter // the open runtime, when it is one
}

// NewLazyRuntime returns a LazyRuntime that calls open once, on the first
// Start or NewNetNS; open returns the runtime and what closes it.
func NewLazyRuntime(open func() (Runtime, func() error, error)) *LazyRuntime {
	return &LazyRuntime{open: open, expect: -1}
}

// get opens the runtime on first use.
func (l *LazyRuntime) get() (Runtime, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, errors.New("container runtime: used after Close")
	}
	if !l.done {
		l.done = true
		l.rt, l.close, l.err = l.open()
		if e, ok := l.rt.(expecter); ok && l.err == nil {
			l.emu.Lock()
			l.expecter = e
			if l.expect >= 0 {
				e.Expect(l.expect)
			}
			l.emu.Unlock()
		}
	}
	return l.rt, l.err
}

// Expect passes on how many containers are still to start (see
// expecter); before the runtime is open it is kept for the open.
func (l *LazyRuntime) Expect(n int) {
	l.emu.Lock()
	defer l.emu.Unlock()
	l.expect = n
	if l.expecter != nil {
		l.expecter.Expect(n)
	}
}

// Prefetch starts opening the runtime in the background, for a caller that
// knows a container will start (pipe run --no-cache, a step that missed the
// cache): the open (sealing a copy of the pipe binary alone takes ~10 ms)
// then overlaps the work before the first Start, which waits for it. It
// does nothing after the first call, once the runtime is open, or after
// Close; a Close that comes while the open runs waits for it and closes
// what it opened.
func (l *LazyRuntime) Prefetch() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done || l.closed || l.prefetching {
		return
	}
	l.prefetching = true
	go func() { _, _ = l.get() }()
}

// prefetcher is a Runtime that can start opening ahead of its first use
// (*LazyRuntime).
type prefetcher interface{ Prefetch() }

// expecter is a Runtime that prepares containers ahead of time and is told
// how many more the run will start, the next one included, so that it
// prepares none that no step takes (isolation.Runtime.Expect).
type expecter interface{ Expect(n int) }

// Start opens the runtime if needed and starts a container.
func (l *LazyRuntime) Start(ctx context.Context, s *isolation.Spec) (Container, error) {
	rt, err := l.get()
	if err != nil {
		return nil, err
	}
	return rt.Start(ctx, s)
}

// NewNetNS opens the runtime if needed and makes a network namespace.
func (l *LazyRuntime) NewNetNS(name string) (NetNS, error) {
	rt, err := l.get()
	if err != nil {
		return nil, err
	}
	return rt.NewNetNS(name)
}

// Opened reports whether the runtime was opened.
func (l *LazyRuntime) Opened() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done && l.err == nil
}

// Close closes the runtime if it was opened. Call it after the run, when
// no Start or NewNetNS can come any more.
func (l *LazyRuntime) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed || l.close == nil {
		l.closed = true
		return nil
	}
	l.closed = true
	return l.close()
}
