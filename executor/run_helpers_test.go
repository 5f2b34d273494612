package executor

import (
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/internal/pipetest"
	"github.com/pipe-run/pipe/isolation"
	"github.com/pipe-run/pipe/pipeline"
)

// testImage is the name the busybox test image is imported under.
const testImage = "pipe.test/busybox:1"

// eventLog is a Sink that keeps every event.
type eventLog struct {
	mu     sync.Mutex
	events []runlog.Event
}

func (l *eventLog) Emit(e runlog.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) all() []runlog.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]runlog.Event(nil), l.events...)
}

// finished returns the step_finished event of each step.
func (l *eventLog) finished() map[string]runlog.Event {
	m := map[string]runlog.Event{}
	for _, e := range l.all() {
		if e.Type == runlog.EventStepFinished {
			m[e.Step] = e
		}
	}
	return m
}

// statuses returns "step=status" for every finished step, sorted by step.
func (l *eventLog) statuses() map[string]runlog.Status {
	m := map[string]runlog.Status{}
	for k, e := range l.finished() {
		m[k] = e.Status
	}
	return m
}

// lines returns the step_log lines of step (both streams), in order.
func (l *eventLog) lines(step string) []string {
	var out []string
	for _, e := range l.all() {
		if e.Type == runlog.EventStepLog && e.Step == step {
			out = append(out, e.Line)
		}
	}
	return out
}

// text is every event rendered as text, to search for leaks.
func (l *eventLog) text() string {
	var b strings.Builder
	for _, e := range l.all() {
		j, _ := e.MarshalJSON()
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

// testEnv is a store holding the busybox image, a repo, and a runtime.
type testEnv struct {
	t     testing.TB
	store *cache.Store
	rt    Runtime
	fake  *fakeRuntime
	repo  string
	nonce string // in every step's env: keys unique to this testEnv
}

// newFakeEnv returns a testEnv whose runtime is the fake.
func newFakeEnv(t testing.TB) *testEnv {
	e := newStoreEnv(t)
	e.fake = newFakeRuntime(t.TempDir())
	e.rt = &countingRuntime{Runtime: e.fake}
	return e
}

// newRealEnv returns a testEnv whose runtime is isolation (root only).
func newRealEnv(t testing.TB) *testEnv {
	rt := newRealRuntime(t)
	e := newStoreEnv(t)
	e.rt = &countingRuntime{Runtime: rt}
	return e
}

// forEachRuntime runs f on the fake, and on isolation with PIPE_TEST_ROOT=1.
func forEachRuntime(t *testing.T, f func(t *testing.T, e *testEnv)) {
	t.Run("fake", func(t *testing.T) { f(t, newFakeEnv(t)) })
	t.Run("isolation", func(t *testing.T) { f(t, newRealEnv(t)) })
}

// countingRuntime counts the containers started.
type countingRuntime struct {
	Runtime
	n atomic.Int64
}

func (c *countingRuntime) Start(ctx context.Context, s *isolation.Spec) (Container, error) {
	c.n.Add(1)
	return c.Runtime.Start(ctx, s)
}

// starts returns the number of containers started so far.
func (e *testEnv) starts() int { return int(e.rt.(*countingRuntime).n.Load()) }

func newStoreEnv(t testing.TB) *testEnv {
	t.Helper()
	repo := t.TempDir()
	writeFiles(t, repo, map[string]string{"src/main.txt": "main", "README": "readme"})
	return &testEnv{t: t, store: sharedStore(t), repo: repo, nonce: randomHex(8)}
}

// The tests share one store holding the busybox image; each testEnv adds
// a nonce to its steps' env, so no test ever hits another's results.
var testStore = pipetest.SharedStore{Ref: testImage}

func sharedStore(t testing.TB) *cache.Store { return testStore.Get(t) }

// removeSharedStore is called by TestMain.
func removeSharedStore() { testStore.Remove() }

func importBusybox(store *cache.Store, dir string) error {
	return pipetest.ImportBusybox(store, dir, testImage)
}

// parse parses a pipeline whose steps use the test image by default.
func parse(t testing.TB, yml string) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.Parse("test.pipe.yml", []byte("version: 1\nimage: "+testImage+"\n"+yml))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return p
}

// run runs yml with options changed by mod.
func (e *testEnv) run(ctx context.Context, yml string, mod func(*Options)) (*Summary, *eventLog, error) {
	e.t.Helper()
	log := &eventLog{}
	o := Options{Runtime: e.rt, Store: e.store, Sink: log, Repo: e.repo, Jobs: 4, Pull: cache.PullNever,
		Env: []string{"PIPE_TEST_NONCE=" + e.nonce}}
	if mod != nil {
		mod(&o)
	}
	sum, err := Run(ctx, parse(e.t, yml), o)
	return sum, log, err
}

// mustRun runs yml and fails the test on a run error.
func (e *testEnv) mustRun(yml string, mod func(*Options)) (*Summary, *eventLog) {
	e.t.Helper()
	sum, log, err := e.run(context.Background(), yml, mod)
	if err != nil {
		e.t.Fatalf("run: %v\nevents:\n%s", err, log.text())
	}
	return sum, log
}

func wantStatuses(t testing.TB, log *eventLog, want map[string]runlog.Status) {
	t.Helper()
	got := log.statuses()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("step %s: status %q, want %q (event %+v)\nevents:\n%s", k, got[k], v, log.finished()[k], log.text())
			return
		}
	}
	if len(got) != len(want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
}

func dirEntries(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// sinkFunc is a Sink made of a func.
type sinkFunc func(runlog.Event)

func (f sinkFunc) Emit(e runlog.Event) { f(e) }
