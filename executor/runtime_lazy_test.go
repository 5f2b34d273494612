package executor

import (
	"errors"
	"slices"
	"sync"
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

// expectingRuntime records what Expect was told.
type expectingRuntime struct {
	Runtime
	mu   sync.Mutex
	seen []int
}

func (e *expectingRuntime) Expect(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seen = append(e.seen, n)
}

func (e *expectingRuntime) told() []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]int(nil), e.seen...)
}

// An Expect before the runtime is open reaches it at the open (the last
// one); later ones reach it as they come; a runtime that prepares nothing
// ahead is not asked.
func TestLazyRuntimeExpect(t *testing.T) {
	rt := &expectingRuntime{Runtime: newFakeRuntime(t.TempDir())}
	l := NewLazyRuntime(func() (Runtime, func() error, error) { return rt, nil, nil })
	l.Expect(5)
	l.Expect(3)
	if got := rt.told(); len(got) != 0 {
		t.Fatalf("told %v before the open", got)
	}
	if _, err := l.NewNetNS("x"); err != nil {
		t.Fatal(err)
	}
	l.Expect(2)
	if got := rt.told(); !slices.Equal(got, []int{3, 2}) {
		t.Errorf("the runtime was told %v, want [3 2]", got)
	}
	plain := NewLazyRuntime(func() (Runtime, func() error, error) { return newFakeRuntime(t.TempDir()), nil, nil })
	plain.Expect(1)
	if _, err := plain.NewNetNS("x"); err != nil {
		t.Fatal(err)
	}
	plain.Expect(0) // no expecter: nothing to tell, nothing to fail
}

// A run tells the runtime, as each step that misses the cache begins, how
// many steps may still start a container: it counts down to 1 in a chain,
// and a run of cache hits tells it nothing.
func TestRunExpectsContainers(t *testing.T) {
	e := newFakeEnv(t)
	rt := &expectingRuntime{Runtime: e.rt}
	e.rt = rt
	yml := "steps:\n  a: {run: \"true\"}\n  b: {run: \"true\", needs: [a]}\n  c: {run: \"true\", needs: [b]}\n"
	e.mustRun(yml, nil)
	if got := rt.told(); !slices.Equal(got, []int{3, 2, 1}) {
		t.Errorf("first run: told %v, want [3 2 1]", got)
	}
	rt.mu.Lock()
	rt.seen = nil
	rt.mu.Unlock()
	e.mustRun(yml, nil)
	if got := rt.told(); len(got) != 0 {
		t.Errorf("a run of cache hits told the runtime %v", got)
	}
}
