package executor

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestLazyRuntimePrefetch checks that Prefetch opens the runtime once, in
// the background, that later calls use that runtime, and that Close closes
// whatever a Prefetch opened, whichever comes first.
func TestLazyRuntimePrefetch(t *testing.T) {
	var opened, closed atomic.Int32
	fake := newFakeRuntime(t.TempDir())
	open := func() (Runtime, func() error, error) {
		opened.Add(1)
		return fake, func() error { closed.Add(1); return nil }, nil
	}
	l := NewLazyRuntime(open)
	l.Prefetch()
	l.Prefetch()
	for deadline := time.Now().Add(10 * time.Second); !l.Opened(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Prefetch did not open the runtime")
		}
	}
	ns, err := l.NewNetNS("x")
	if err != nil {
		t.Fatal(err)
	}
	ns.Close()
	if err := l.Close(); err != nil || opened.Load() != 1 || closed.Load() != 1 {
		t.Errorf("opened %d, closed %d times (want 1, 1), err %v", opened.Load(), closed.Load(), err)
	}

	opened.Store(0)
	closed.Store(0)
	racing := NewLazyRuntime(open)
	racing.Prefetch()
	if err := racing.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // a Prefetch that lost the race must not open after Close
	if opened.Load() != closed.Load() {
		t.Errorf("Prefetch then Close: opened %d, closed %d times", opened.Load(), closed.Load())
	}

	late := NewLazyRuntime(func() (Runtime, func() error, error) { return nil, nil, errors.New("opened after Close") })
	if err := late.Close(); err != nil {
		t.Fatal(err)
	}
	late.Prefetch()
	if late.Opened() {
		t.Error("Prefetch after Close opened the runtime")
	}
}
