package executor

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder notes when nodes start and end, as a sequence of events.
type recorder struct {
	mu     sync.Mutex
	seq    int
	starts map[string]int
	ends   map[string]int
}

func newRecorder() *recorder {
	return &recorder{starts: map[string]int{}, ends: map[string]int{}}
}

func (r *recorder) mark(m map[string]int, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seq++
	m[name] = r.seq
}

// ok is a node func that records and succeeds.
func (r *recorder) ok(name string) func(context.Context, int) (outcome, error) {
	return func(ctx context.Context, _ int) (outcome, error) {
		r.mark(r.starts, name)
		r.mark(r.ends, name)
		return outcomeOK, nil
	}
}

func mkNode(name string, run func(context.Context, int) (outcome, error), deps ...string) node {
	return node{name: name, deps: deps, run: run}
}

func outcomes(nodes []node, rs []nodeResult) map[string]string {
	m := map[string]string{}
	for i, r := range rs {
		m[nodes[i].name] = r.Outcome.String()
	}
	return m
}

func checkOutcomes(t *testing.T, nodes []node, rs []nodeResult, want map[string]string) {
	t.Helper()
	got := outcomes(nodes, rs)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: outcome %s, want %s (reason %q, err %v)", k, got[k], v, rs[indexByName(nodes, k)].Reason, rs[indexByName(nodes, k)].Err)
		}
	}
}

func indexByName(nodes []node, name string) int {
	for i, n := range nodes {
		if n.name == name {
			return i
		}
	}
	return -1
}

func blockUntilCanceled(ctx context.Context, _ int) (outcome, error) {
	<-ctx.Done()
	return outcomeFailed, ctx.Err()
}

func failing(ctx context.Context, _ int) (outcome, error) {
	return outcomeFailed, errors.New("exit status 1")
}

func TestScheduleDependenciesFinishFirst(t *testing.T) {
	r := newRecorder()
	nodes := []node{
		mkNode("d", r.ok("d"), "b", "c"),
		mkNode("b", r.ok("b"), "a"),
		mkNode("c", r.ok("c"), "a"),
		mkNode("a", r.ok("a")),
		mkNode("e", r.ok("e"), "d", "a"),
	}
	for _, jobs := range []int{1, 2, 8} {
		rs, err := schedule(context.Background(), nodes, scheduleOptions{Jobs: jobs})
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range nodes {
			if rs[i].Outcome != outcomeOK || rs[i].Attempts != 1 {
				t.Fatalf("jobs %d: %s: %+v", jobs, n.name, rs[i])
			}
			for _, d := range n.deps {
				if r.ends[d] > r.starts[n.name] {
					t.Errorf("jobs %d: %s started before its dependency %s ended", jobs, n.name, d)
				}
			}
		}
	}
}

func TestScheduleListedOrderAmongReady(t *testing.T) {
	var order []string
	var mu sync.Mutex
	rec := func(name string) func(context.Context, int) (outcome, error) {
		return func(context.Context, int) (outcome, error) {
			mu.Lock()
			order = append(order, name)
			mu.Unlock()
			return outcomeOK, nil
		}
	}
	nodes := []node{mkNode("z", rec("z")), mkNode("y", rec("y"), "x"), mkNode("x", rec("x")), mkNode("w", rec("w"))}
	if _, err := schedule(context.Background(), nodes, scheduleOptions{Jobs: 1}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ","); got != "z,x,w,y" && got != "z,x,y,w" {
		t.Errorf("order %s, want z,x then w and y by list order among ready", got)
	}
}

// A node starts the moment its own dependencies are done: c (needs the fast b)
// must start while the slow a still runs. With level barriers this would hang.
func TestScheduleReadinessNotLevels(t *testing.T) {
	cStarted := make(chan struct{})
	nodes := []node{
		mkNode("a", func(ctx context.Context, _ int) (outcome, error) {
			select {
			case <-cStarted:
				return outcomeOK, nil
			case <-time.After(10 * time.Second):
				return outcomeFailed, errors.New("c never started while a ran: level barrier")
			}
		}),
		mkNode("b", func(context.Context, int) (outcome, error) { return outcomeOK, nil }),
		mkNode("c", func(context.Context, int) (outcome, error) { close(cStarted); return outcomeOK, nil }, "b"),
		mkNode("d", func(context.Context, int) (outcome, error) { return outcomeOK, nil }, "a", "c"),
	}
	rs, err := schedule(context.Background(), nodes, scheduleOptions{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	checkOutcomes(t, nodes, rs, map[string]string{"a": "ok", "b": "ok", "c": "ok", "d": "ok"})
}

func TestScheduleJobsBound(t *testing.T) {
	for _, jobs := range []int{1, 3, 7} {
		var cur, peak atomic.Int32
		var nodes []node
		for i := 0; i < 30; i++ {
			nodes = append(nodes, mkNode(fmt.Sprint("n", i), func(context.Context, int) (outcome, error) {
				c := cur.Add(1)
				for {
					p := peak.Load()
					if c <= p || peak.CompareAndSwap(p, c) {
						break
					}
				}
				time.Sleep(2 * time.Millisecond)
				cur.Add(-1)
				return outcomeOK, nil
			}))
		}
		if _, err := schedule(context.Background(), nodes, scheduleOptions{Jobs: jobs}); err != nil {
			t.Fatal(err)
		}
		if p := int(peak.Load()); p > jobs || p < 1 {
			t.Errorf("jobs %d: peak concurrency %d", jobs, p)
		}
		if jobs == 1 && peak.Load() != 1 {
			t.Errorf("jobs 1: peak %d", peak.Load())
		}
	}
}

// With jobs N and N independent nodes that each wait for all the others, the
// schedule completes only if all N really run at once.
func TestScheduleRunsUpToJobsAtOnce(t *testing.T) {
	const n = 4
	var wg sync.WaitGroup
	wg.Add(n)
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	var nodes []node
	for i := 0; i < n; i++ {
		nodes = append(nodes, mkNode(fmt.Sprint("n", i), func(context.Context, int) (outcome, error) {
			wg.Done()
			select {
			case <-all:
				return outcomeOK, nil
			case <-time.After(10 * time.Second):
				return outcomeFailed, errors.New("not all nodes ran at once")
			}
		}))
	}
	rs, err := schedule(context.Background(), nodes, scheduleOptions{Jobs: n})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rs {
		if r.Outcome != outcomeOK {
			t.Errorf("%s: %v", nodes[i].name, r.Err)
		}
	}
}

func TestScheduleFailFast(t *testing.T) {
	r := newRecorder()
	started := make(chan struct{})
	nodes := []node{
		mkNode("slow", func(ctx context.Context, a int) (outcome, error) { close(started); return blockUntilCanceled(ctx, a) }),
		mkNode("bad", func(ctx context.Context, a int) (outcome, error) { <-started; return failing(ctx, a) }),
		mkNode("after-bad", r.ok("after-bad"), "bad"),
		mkNode("after-after", r.ok("after-after"), "after-bad"),
		mkNode("independent", r.ok("independent")),
		mkNode("after-slow", r.ok("after-slow"), "slow"),
	}
	var done []string
	rs, err := schedule(context.Background(), nodes, scheduleOptions{Jobs: 2, OnDone: func(i int, _ nodeResult) {
		done = append(done, nodes[i].name)
	}})
	if err != nil {
		t.Fatal(err)
	}
	checkOutcomes(t, nodes, rs, map[string]string{
		"slow": "canceled", "bad": "failed", "after-bad": "skipped", "after-after": "skipped",
		"independent": "skipped", "after-slow": "skipped",
	})
	if len(r.starts) != 0 {
		t.Errorf("started after the failure: %v", r.starts)
	}
	if got := rs[2].Reason; got != "needs bad, which failed" {
		t.Errorf("after-bad reason %q", got)
	}
	if got := rs[4].Reason; !strings.Contains(got, "step bad failed") || !strings.Contains(got, "--keep-going") {
		t.Errorf("independent reason %q", got)
	}
	if len(done) != len(nodes) {
		t.Errorf("OnDone called for %v, want every node once", done)
	}
}

func TestScheduleKeepGoing(t *testing.T) {
	r := newRecorder()
	nodes := []node{
		mkNode("bad", failing),
		mkNode("after-bad", r.ok("after-bad"), "bad"),
		mkNode("after-after", r.ok("after-after"), "after-bad", "independent"),
		mkNode("independent", r.ok("independent")),
		mkNode("after-independent", r.ok("after-independent"), "independent"),
	}
	rs, err := schedule(context.Background(), nodes, scheduleOptions{Jobs: 1, KeepGoing: true})
	if err != nil {
		t.Fatal(err)
	}
	checkOutcomes(t, nodes, rs, map[string]string{
		"bad": "failed", "after-bad": "skipped", "after-after": "skipped",
		"independent": "ok", "after-independent": "ok",
	})
	if got := rs[2].Reason; got != "needs after-bad, which was skipped" {
		t.Errorf("after-after reason %q", got)
	}
}

func TestScheduleAllowFailure(t *testing.T) {
	r := newRecorder()
	nodes := []node{
		{name: "flaky", allowFailure: true, run: failing},
		mkNode("after", r.ok("after"), "flaky"),
		mkNode("other", r.ok("other")),
	}
	rs, err := schedule(context.Background(), nodes, scheduleOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkOutcomes(t, nodes, rs, map[string]string{"flaky": "failed", "after": "ok", "other": "ok"})
}

func TestScheduleSkippedCascades(t *testing.T) {
	r := newRecorder()
	nodes := []node{
		mkNode("deploy", func(context.Context, int) (outcome, error) {
			return outcomeSkipped, errors.New("when: branch is not main")
		}),
		mkNode("notify", r.ok("notify"), "deploy"),
		mkNode("other", r.ok("other")),
	}
	rs, err := schedule(context.Background(), nodes, scheduleOptions{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	checkOutcomes(t, nodes, rs, map[string]string{"deploy": "skipped", "notify": "skipped", "other": "ok"})
}

func TestScheduleRetries(t *testing.T) {
	flaky := func(failures int) func(context.Context, int) (outcome, error) {
		return func(_ context.Context, attempt int) (outcome, error) {
			if attempt <= failures {
				return outcomeFailed, fmt.Errorf("attempt %d failed", attempt)
			}
			return outcomeOK, nil
		}
	}
	nodes := []node{
		{name: "recovers", retries: 2, run: flaky(2)},
		{name: "gives-up", retries: 1, run: flaky(5)},
		{name: "first-time", retries: 3, run: flaky(0)},
	}
	rs, err := schedule(context.Background(), nodes, scheduleOptions{Jobs: 3, KeepGoing: true})
	if err != nil {
		t.Fatal(err)
	}
	checkOutcomes(t, nodes, rs, map[string]string{"recovers": "ok", "gives-up": "failed", "first-time": "ok"})
	if rs[0].Attempts != 3 || rs[1].Attempts != 2 || rs[2].Attempts != 1 {
		t.Errorf("attempts %d %d %d, want 3 2 1", rs[0].Attempts, rs[1].Attempts, rs[2].Attempts)
	}
	if rs[1].Err == nil || rs[1].Err.Error() != "attempt 2 failed" {
		t.Errorf("gives-up error %v, want the last attempt's", rs[1].Err)
	}
}

func TestScheduleCancellation(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var attempts atomic.Int32
	running := make(chan struct{}, 2)
	run := func(ctx context.Context, a int) (outcome, error) {
		attempts.Add(1)
		running <- struct{}{}
		return blockUntilCanceled(ctx, a)
	}
	r := newRecorder()
	nodes := []node{
		{name: "a", retries: 5, run: run},
		{name: "b", retries: 5, run: run},
		mkNode("c", r.ok("c")),
		mkNode("d", r.ok("d"), "a"),
	}
	go func() { <-running; <-running; cancel() }()
	start := time.Now()
	rs, err := schedule(ctx, nodes, scheduleOptions{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("schedule took %v after cancel", d)
	}
	checkOutcomes(t, nodes, rs, map[string]string{"a": "canceled", "b": "canceled", "c": "canceled", "d": "canceled"})
	if attempts.Load() != 2 {
		t.Errorf("%d attempts, want 2: a cancelled node must not be retried", attempts.Load())
	}
	if !strings.Contains(rs[2].Reason, "interrupted") {
		t.Errorf("c reason %q", rs[2].Reason)
	}
}

func TestScheduleAlreadyCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := newRecorder()
	nodes := []node{mkNode("a", r.ok("a")), mkNode("b", r.ok("b"), "a")}
	rs, err := schedule(ctx, nodes, scheduleOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.starts) != 0 {
		t.Errorf("ran with a cancelled ctx: %v", r.starts)
	}
	checkOutcomes(t, nodes, rs, map[string]string{"a": "canceled", "b": "canceled"})
}

func TestSchedulePanicIsAFailure(t *testing.T) {
	nodes := []node{mkNode("boom", func(context.Context, int) (outcome, error) { panic("oops") })}
	rs, err := schedule(context.Background(), nodes, scheduleOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Outcome != outcomeFailed || !strings.Contains(rs[0].Err.Error(), "oops") {
		t.Errorf("got %+v", rs[0])
	}
}

func TestScheduleGraphErrors(t *testing.T) {
	ok := func(context.Context, int) (outcome, error) { return outcomeOK, nil }
	for _, tc := range []struct {
		name  string
		nodes []node
		want  string
	}{
		{"unknown", []node{mkNode("a", ok, "nope")}, `step "a" needs "nope"`},
		{"duplicate", []node{mkNode("a", ok), mkNode("a", ok)}, `"a" is listed twice`},
		{"cycle", []node{mkNode("a", ok, "c"), mkNode("b", ok, "a"), mkNode("c", ok, "b")}, "cycle a -> c -> b -> a"},
		{"self", []node{mkNode("a", ok, "a")}, "cycle a -> a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := schedule(context.Background(), tc.nodes, scheduleOptions{})
			if !errors.Is(err, errGraph) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestScheduleEmpty(t *testing.T) {
	rs, err := schedule(context.Background(), nil, scheduleOptions{})
	if err != nil || len(rs) != 0 {
		t.Errorf("got %v %v", rs, err)
	}
}

// randomDAG builds n nodes, each needing up to 3 earlier ones.
func randomDAG(n int, seed int64, run func(context.Context, int) (outcome, error)) []node {
	rnd := rand.New(rand.NewSource(seed))
	nodes := make([]node, n)
	for i := range nodes {
		nodes[i] = node{name: fmt.Sprint("n", i), run: run}
		for k := 0; k < 3 && i > 0; k++ {
			d := fmt.Sprint("n", rnd.Intn(i))
			if !containsString(nodes[i].deps, d) {
				nodes[i].deps = append(nodes[i].deps, d)
			}
		}
	}
	return nodes
}

func containsString(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestScheduleRandomDAGs(t *testing.T) {
	for seed := int64(0); seed < 20; seed++ {
		r := newRecorder()
		var nodes []node
		nodes = randomDAG(200, seed, nil)
		for i := range nodes {
			name := nodes[i].name
			if seed%3 == 0 && i%37 == 5 {
				nodes[i].run = failing
				continue
			}
			nodes[i].run = r.ok(name)
		}
		rs, err := schedule(context.Background(), nodes, scheduleOptions{Jobs: 1 + int(seed%4), KeepGoing: seed%2 == 0})
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range nodes {
			if rs[i].Outcome == outcomePending {
				t.Fatalf("seed %d: %s pending", seed, n.name)
			}
			if rs[i].Outcome != outcomeOK {
				continue
			}
			for _, d := range n.deps {
				if rs[indexByName(nodes, d)].Outcome != outcomeOK || r.ends[d] > r.starts[n.name] {
					t.Errorf("seed %d: %s ran before or without %s", seed, n.name, d)
				}
			}
		}
	}
}

func BenchmarkSchedule10k(b *testing.B) {
	ok := func(context.Context, int) (outcome, error) { return outcomeOK, nil }
	nodes := randomDAG(10000, 1, ok)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rs, err := schedule(context.Background(), nodes, scheduleOptions{Jobs: 8})
		if err != nil || rs[len(rs)-1].Outcome != outcomeOK {
			b.Fatal(err)
		}
	}
}
