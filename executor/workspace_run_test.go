package executor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/isolation"
)

func TestRunSnapshotOnlyOnMiss(t *testing.T) {
	e := newFakeEnv(t)
	const yml = `
steps:
  a: {run: [echo a > a.txt]}
  b: {needs: [a], run: [cat a.txt]}
  c: {needs: [a], run: [cat README]}
`
	sum, log := e.mustRun(yml, nil)
	wantStatuses(t, log, map[string]runlog.Status{"a": runlog.StatusOK, "b": runlog.StatusOK, "c": runlog.StatusOK})
	if n := sum.Snapshots; n != 1 {
		t.Errorf("a run of 3 misses made %d snapshots, want 1 shared by all", n)
	}

	started := e.starts()
	sum, log = e.mustRun(yml, nil)
	wantStatuses(t, log, map[string]runlog.Status{"a": runlog.StatusCached, "b": runlog.StatusCached, "c": runlog.StatusCached})
	if n := sum.Snapshots; n != 0 {
		t.Errorf("a run of cache hits made %d snapshots, want none", n)
	}
	if n := e.starts() - started; n != 0 {
		t.Errorf("a run of cache hits started %d containers", n)
	}
}

func TestRunHitsLeasedBeforeFirstContainer(t *testing.T) {
	e := newFakeEnv(t)
	const yml = `
steps:
  a: {run: [echo a > a.txt]}
  b: {needs: [a], run: [cat a.txt]}
`
	e.mustRun(yml, nil)
	// b misses (new env), a hits: a's layer must be leased while b runs.
	var leased string
	e.rt = &hookRuntime{Runtime: e.rt, hook: func() {
		b, _ := filepath.Glob(filepath.Join(e.store.Root(), "leases", "*.lock"))
		for _, f := range b {
			data, _ := os.ReadFile(f)
			leased += string(data)
		}
	}}
	_, log := e.mustRun(strings.Replace(yml, "cat a.txt", "cat a.txt; true", 1), nil)
	wantStatuses(t, log, map[string]runlog.Status{"a": runlog.StatusCached, "b": runlog.StatusOK})
	if key := log.finished()["a"].Key; !strings.Contains(leased, key) {
		t.Errorf("while b ran, the leases held %s, not a's key %s", leased, key)
	}
}

// hookRuntime calls hook before each Start.
type hookRuntime struct {
	Runtime
	hook func()
}

func (h *hookRuntime) Start(ctx context.Context, s *isolation.Spec) (Container, error) {
	h.hook()
	return h.Runtime.Start(ctx, s)
}

func TestLazyRuntime(t *testing.T) {
	opened, closed := 0, 0
	fake := newFakeRuntime(t.TempDir())
	l := NewLazyRuntime(func() (Runtime, func() error, error) {
		opened++
		return fake, func() error { closed++; return nil }, nil
	})
	if l.Opened() || opened != 0 {
		t.Fatal("opened before use")
	}
	for range 2 {
		ns, err := l.NewNetNS("x")
		if err != nil {
			t.Fatal(err)
		}
		ns.Close()
	}
	if err := l.Close(); err != nil || opened != 1 || closed != 1 {
		t.Errorf("opened %d, closed %d times (want 1, 1), err %v", opened, closed, err)
	}
	if _, err := l.NewNetNS("y"); err == nil {
		t.Error("use after Close worked")
	}

	unused := NewLazyRuntime(func() (Runtime, func() error, error) { return nil, nil, errors.New("opened") })
	if err := unused.Close(); err != nil {
		t.Errorf("Close of an unused runtime: %v", err)
	}
}

func TestRunTellsShortSecretsAndWorkspaceNotes(t *testing.T) {
	e := newFakeEnv(t)
	if err := syscall.Mkfifo(filepath.Join(e.repo, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	const yml = `
secrets: [SHORT, LONG]
steps:
  a: {secrets: [SHORT, LONG], run: [echo a]}
`
	_, log := e.mustRun(yml, func(o *Options) {
		o.Secrets = map[string]string{"SHORT": "abc", "LONG": "a-long-enough-secret-value"}
	})
	var notes []string
	for _, ev := range log.all() {
		if ev.Type == runlog.EventStepLog && ev.Step == "" {
			if ev.Stream != runlog.StreamPipe {
				t.Errorf("run note on stream %q", ev.Stream)
			}
			notes = append(notes, ev.Line)
		}
	}
	got := strings.Join(notes, "\n")
	if !strings.Contains(got, "secret SHORT is shorter than") || strings.Contains(got, "LONG") || strings.Contains(got, "abc") {
		t.Errorf("run notes %q: want SHORT named, LONG not, no value", got)
	}
	if !strings.Contains(got, "1 sockets, FIFOs or devices left out") {
		t.Errorf("run notes %q: want the workspace's note about the FIFO", got)
	}
	if strings.Count(got, "FIFOs") != 1 {
		t.Errorf("the scan's and the snapshot's note were both told: %q", got)
	}
	warned := false
	for _, ev := range log.all() {
		warned = warned || strings.Contains(ev.Line, "secret SHORT is shorter")
	}
	if !warned {
		t.Errorf("no event warns of the short secret: %+v", log.all())
	}
}
