package executor

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"

	"github.com/pipe-run/pipe/pipeline"
)

// outcome is how one node of the schedule ended.
type outcome uint8

const (
	outcomePending  outcome = iota // not finished yet (never returned by schedule)
	outcomeOK                      // done; the nodes that need it may run
	outcomeFailed                  // failed; fails the pipeline unless its failure is allowed
	outcomeSkipped                 // did not run (its own choice, or a dependency did not succeed)
	outcomeCanceled                // stopped or never started because of fail fast or the caller's ctx
)

func (o outcome) String() string {
	return [...]string{"pending", "ok", "failed", "skipped", "canceled"}[o]
}

// node is one unit of work for the scheduler: a step after matrix expansion.
// The scheduler knows nothing of steps; run does the work.
type node struct {
	name         string
	deps         []string
	allowFailure bool // a failure neither stops the pipeline nor skips dependants
	// failureAllowed, when set, decides after a failure whether it is
	// allowed, as allowFailure would (allow_failure: exit_codes). It is called
	// from the coordinating goroutine after the node's last attempt returned.
	failureAllowed func() bool
	retries        int // re-run a failed attempt up to this many more times
	// runOn says which outcomes of its dependencies let the node run: with
	// RunOnFailure or RunAlways it also runs after fail fast stopped the run.
	runOn pipeline.RunOn
	// run does the work of one attempt (1-based). It returns outcomeOK,
	// outcomeFailed or outcomeSkipped, and an error that says why when not OK.
	// It must return soon after ctx is done.
	run func(ctx context.Context, attempt int) (outcome, error)
}

// nodeResult is how a node ended, and why.
type nodeResult struct {
	Outcome  outcome
	Attempts int    // attempts started (0 when it never ran)
	Err      error  // the last attempt's error, for failed nodes
	Reason   string // for skipped and canceled nodes: why
	Allowed  bool   // for failed nodes: the failure is allowed (does not fail the pipeline)
}

// allows reports whether a failure of n is allowed.
func (n *node) allows() bool {
	return n.allowFailure || n.failureAllowed != nil && n.failureAllowed()
}

// scheduleOptions bound and steer a schedule.
type scheduleOptions struct {
	Jobs      int  // nodes running at once; < 1 means 1
	KeepGoing bool // run every node that does not depend on a failure
	// OnReady is called when a node's dependencies are done and it waits for a
	// job slot; OnStart when it starts; OnDone once for every node, including
	// those that never ran. All three are called from the scheduler's single
	// coordinating goroutine, never concurrently, and must not block long.
	OnReady func(i int)
	OnStart func(i int)
	OnDone  func(i int, r nodeResult)
}

// errGraph is wrapped by schedule's errors about the graph itself.
var errGraph = errors.New("invalid step graph")

// schedule runs nodes on readiness: a node starts the moment its own
// dependencies are done (there are no level barriers), at most o.Jobs at once,
// and among ready nodes the one listed first starts first. It returns when
// every node has ended, with one result per node in the order given. Its error
// is only about the graph (unknown dependency, cycle): node failures are in the
// results. When ctx is cancelled, running nodes are cancelled, pending ones end
// as canceled, and schedule returns once the running ones have returned.
func schedule(ctx context.Context, nodes []node, o scheduleOptions) ([]nodeResult, error) {
	g, err := newSchedGraph(nodes)
	if err != nil {
		return nil, err
	}
	s := newScheduler(ctx, nodes, g, o)
	defer s.cancelOuter()
	s.loop(ctx)
	return s.results, nil
}

// schedGraph is the nodes' edges by index.
type schedGraph struct {
	deps       [][]int // node -> its dependencies
	dependants [][]int // node -> the nodes that need it
}

// newSchedGraph resolves names to indices and rejects unknown names,
// duplicates and cycles.
func newSchedGraph(nodes []node) (*schedGraph, error) {
	index := make(map[string]int, len(nodes))
	for i, n := range nodes {
		if _, dup := index[n.name]; dup {
			return nil, fmt.Errorf("%w: step %q is listed twice", errGraph, n.name)
		}
		index[n.name] = i
	}
	g := &schedGraph{deps: make([][]int, len(nodes)), dependants: make([][]int, len(nodes))}
	for i, n := range nodes {
		for _, d := range n.deps {
			j, ok := index[d]
			if !ok {
				return nil, fmt.Errorf("%w: step %q needs %q, which is not in the pipeline", errGraph, n.name, d)
			}
			g.deps[i] = append(g.deps[i], j)
			g.dependants[j] = append(g.dependants[j], i)
		}
	}
	if cyc := g.cycle(nodes); cyc != "" {
		return nil, fmt.Errorf("%w: cycle %s", errGraph, cyc)
	}
	return g, nil
}

// cycle returns a cycle's path ("a -> b -> a"), or "" when there is none.
func (g *schedGraph) cycle(nodes []node) string {
	const (
		white = iota
		grey
		black
	)
	color := make([]uint8, len(nodes))
	var path []int
	var found []int
	var visit func(i int) bool
	visit = func(i int) bool {
		color[i] = grey
		path = append(path, i)
		for _, j := range g.deps[i] {
			if color[j] == grey {
				found = append(append([]int{}, path[indexOf(path, j):]...), j)
				return true
			}
			if color[j] == white && visit(j) {
				return true
			}
		}
		path = path[:len(path)-1]
		color[i] = black
		return false
	}
	for i := range nodes {
		if color[i] == white && visit(i) {
			s := ""
			for k, j := range found {
				if k > 0 {
					s += " -> "
				}
				s += nodes[j].name
			}
			return s
		}
	}
	return ""
}

func indexOf(s []int, v int) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// scheduler is the state of one schedule, owned by its coordinating goroutine.
type scheduler struct {
	nodes       []node
	g           *schedGraph
	o           scheduleOptions
	results     []nodeResult
	waiting     []int    // dependencies not finished yet, per node
	blocked     []string // why a node cannot run ("needs x, which failed"), per node
	failedAbove []bool   // a dependency failed (not allowed), directly or not, per node
	ready       intHeap
	running     int
	finished    int
	stopping    string // non-empty once fail fast or the caller stopped the run: the reason
	interrupted bool   // the caller's ctx stopped the run (rather than fail fast)
	parent      context.Context
	runCtx      context.Context    // of RunOnSuccess nodes: done on fail fast or interrupt
	cancel      context.CancelFunc // cancels runCtx
	outerCtx    context.Context    // of the other nodes: done on interrupt only
	cancelOuter context.CancelFunc // cancels outerCtx and runCtx
	done        chan attemptDone
}

// attemptDone is what a node's goroutine reports when it has finished.
type attemptDone struct {
	i int
	r nodeResult
}

func newScheduler(ctx context.Context, nodes []node, g *schedGraph, o scheduleOptions) *scheduler {
	if o.Jobs < 1 {
		o.Jobs = 1
	}
	s := &scheduler{
		nodes: nodes, g: g, o: o,
		results: make([]nodeResult, len(nodes)),
		waiting: make([]int, len(nodes)),
		blocked: make([]string, len(nodes)),
		done:    make(chan attemptDone, o.Jobs),

		failedAbove: make([]bool, len(nodes)),
	}
	s.parent = ctx
	s.outerCtx, s.cancelOuter = context.WithCancel(ctx)
	s.runCtx, s.cancel = context.WithCancel(s.outerCtx)
	for i := range nodes {
		s.waiting[i] = len(g.deps[i])
	}
	for i := range nodes {
		if s.waiting[i] == 0 {
			s.makeReady(i)
		}
	}
	return s
}

// loop starts ready nodes while slots are free and handles their ends, until
// every node has ended.
func (s *scheduler) loop(ctx context.Context) {
	stopCh := ctx.Done()
	for s.finished < len(s.nodes) {
		if !s.interrupted && ctx.Err() != nil {
			s.interrupt()
		}
		for !s.interrupted && s.running < s.o.Jobs && s.ready.Len() > 0 {
			s.start(heap.Pop(&s.ready).(int))
		}
		if s.running == 0 {
			// Nothing runs and nothing can start: only possible once
			// interrupted, and stop has already ended every pending node.
			return
		}
		select {
		case d := <-s.done:
			s.running--
			s.finish(d.i, d.r)
		case <-stopCh:
			stopCh = nil
			s.interrupt()
		}
	}
}

// makeReady queues node i, or ends it at once when the outcomes of its
// dependencies or the stopped run do not let it run.
func (s *scheduler) makeReady(i int) {
	switch {
	case s.interrupted || s.stopping != "" && !s.keeps(i):
		s.finishStopped(i, s.stopping)
		return
	case s.nodes[i].runOn == pipeline.RunOnFailure && !s.failedAbove[i]:
		s.finish(i, nodeResult{Outcome: outcomeSkipped, Reason: "when: status: failure, and nothing it needs failed"})
		return
	case s.nodes[i].runOn == pipeline.RunOnSuccess && s.blocked[i] != "":
		s.finish(i, nodeResult{Outcome: outcomeSkipped, Reason: s.blocked[i]})
		return
	}
	heap.Push(&s.ready, i)
	if s.o.OnReady != nil {
		s.o.OnReady(i)
	}
}

// start runs node i's attempts in a goroutine of its own.
func (s *scheduler) start(i int) {
	s.running++
	if s.o.OnStart != nil {
		s.o.OnStart(i)
	}
	ctx := s.runCtx
	if s.nodes[i].runOn != pipeline.RunOnSuccess {
		ctx = s.outerCtx // fail fast does not cancel it
	}
	go func() {
		s.done <- attemptDone{i: i, r: runAttempts(ctx, s.nodes[i])}
	}()
}

// runAttempts runs n until it succeeds, is skipped, is cancelled, or has used
// its retries.
func runAttempts(ctx context.Context, n node) nodeResult {
	var r nodeResult
	for attempt := 1; attempt <= 1+max(n.retries, 0); attempt++ {
		r.Attempts = attempt
		r.Outcome, r.Err = runOne(ctx, n, attempt)
		if ctx.Err() != nil && r.Outcome != outcomeOK {
			r.Outcome, r.Reason = outcomeCanceled, "canceled while running"
			return r
		}
		if r.Outcome != outcomeFailed {
			return r
		}
	}
	return r
}

// runOne runs one attempt, and turns a panic into a failure so that it never
// takes the whole run down.
func runOne(ctx context.Context, n node, attempt int) (o outcome, err error) {
	defer func() {
		if p := recover(); p != nil {
			o, err = outcomeFailed, fmt.Errorf("step %s: internal error (please report): %v\n%s", n.name, p, debug.Stack())
		}
	}()
	o, err = n.run(ctx, attempt)
	switch o {
	case outcomeOK, outcomeFailed, outcomeSkipped:
	default:
		o = outcomeFailed
		if err == nil {
			err = fmt.Errorf("step %s: internal error: outcome %s", n.name, o)
		}
	}
	if o == outcomeFailed && err == nil {
		err = fmt.Errorf("step %s failed", n.name)
	}
	return o, err
}

// finish records node i's end, and releases or blocks its dependants.
func (s *scheduler) finish(i int, r nodeResult) {
	if !s.interrupted && s.parent.Err() != nil {
		s.interrupt() // before releasing dependants, so that they end as canceled
	}
	if r.Outcome == outcomeFailed {
		r.Allowed = s.nodes[i].allows()
	}
	s.record(i, r)
	s.release(i, r, s.blockReason(i, r))
	if r.Outcome == outcomeFailed && !r.Allowed && !s.o.KeepGoing && s.stopping == "" {
		s.stop(fmt.Sprintf("not run: step %s failed (fail fast; --keep-going runs the rest)", s.nodes[i].name))
	}
}

// record stores node i's result.
func (s *scheduler) record(i int, r nodeResult) {
	s.results[i] = r
	s.finished++
	if s.o.OnDone != nil {
		s.o.OnDone(i, r)
	}
}

// release tells node i's dependants that it ended: why (when not "") blocks
// the RunOnSuccess ones, and a failure marks them all as below a failure.
// A dependant whose last dependency this was is made ready.
func (s *scheduler) release(i int, r nodeResult, why string) {
	failed := r.Outcome == outcomeFailed && !r.Allowed || s.failedAbove[i]
	for _, j := range s.g.dependants[i] {
		if why != "" && s.blocked[j] == "" {
			s.blocked[j] = why
		}
		s.failedAbove[j] = s.failedAbove[j] || failed
		s.waiting[j]--
		if s.waiting[j] == 0 && s.results[j].Outcome == outcomePending {
			s.makeReady(j)
		}
	}
}

// keeps reports whether node i may still run once the run stopped: a
// RunOnFailure or RunAlways node after fail fast, never after an interrupt.
func (s *scheduler) keeps(i int) bool {
	return !s.interrupted && s.nodes[i].runOn != pipeline.RunOnSuccess
}

// blockReason says why the dependants of node i cannot run, or "" when they can.
func (s *scheduler) blockReason(i int, r nodeResult) string {
	name := s.nodes[i].name
	switch {
	case r.Outcome == outcomeOK:
		return ""
	case r.Outcome == outcomeFailed && r.Allowed:
		return ""
	case r.Outcome == outcomeFailed:
		return fmt.Sprintf("needs %s, which failed", name)
	case r.Outcome == outcomeSkipped:
		return fmt.Sprintf("needs %s, which was skipped", name)
	default:
		return fmt.Sprintf("needs %s, which was canceled", name)
	}
}

// stop cancels the running nodes and ends every node that has not started,
// but for those that keeps lets run after a failure: they stay queued or
// waiting for their dependencies.
func (s *scheduler) stop(reason string) {
	s.stopping = reason
	s.cancel()
	if s.interrupted {
		s.cancelOuter()
	}
	pending := make([]int, 0, s.ready.Len())
	wasReady := map[int]bool{}
	for s.ready.Len() > 0 {
		i := heap.Pop(&s.ready).(int)
		pending, wasReady[i] = append(pending, i), true
	}
	for i := range s.nodes {
		if s.results[i].Outcome == outcomePending && s.waiting[i] > 0 {
			pending = append(pending, i)
		}
	}
	sort.Ints(pending)
	for _, i := range pending {
		switch {
		case s.results[i].Outcome != outcomePending:
		case !s.keeps(i):
			s.finishStopped(i, reason)
		case wasReady[i]:
			heap.Push(&s.ready, i) // OnReady was called already
		}
	}
}

// finishStopped ends a node that never started because the run stopped. Its
// dependants are released without a block reason, so that they end with the
// run's reason too (or run, when keeps lets them).
func (s *scheduler) finishStopped(i int, reason string) {
	o := outcomeCanceled
	if s.blocked[i] != "" {
		o, reason = outcomeSkipped, s.blocked[i]
	} else if !s.interrupted {
		o = outcomeSkipped
	}
	r := nodeResult{Outcome: o, Reason: reason}
	s.record(i, r)
	s.release(i, r, "")
}

// interrupt stops the run because the caller's ctx is done, also when fail
// fast stopped it already (the nodes it kept running are cancelled now).
func (s *scheduler) interrupt() {
	if s.interrupted {
		return
	}
	s.interrupted = true
	s.stop("canceled: the run was interrupted")
}

// intHeap is a min-heap of node indices: among ready nodes, the one listed
// first in the pipeline starts first, so that runs are reproducible.
type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}
