package executor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/executor/workspace"
	"github.com/pipe-run/pipe/pipeline"
)

// Options configure a Run. Store, Sink and Runtime or Pods are required.
type Options struct {
	Runtime Runtime // where containers run
	// Pods, if set, runs every step that misses the cache as a pod of a
	// cluster instead of a local container (see PodRuntime); Runtime is then
	// not used by Run.
	Pods  PodRuntime
	Store *cache.Store // images, step results, cache volumes, run logs
	Sink  runlog.Sink  // every event of the run; wrap several with NewTeeSink

	Repo    string   // the checkout whose snapshot is /workspace; "" is the current dir
	Targets []string // steps to run, with everything they need; none: the whole pipeline
	Jobs    int      // steps running at once; < 1 is the number of CPUs

	KeepGoing bool             // run every step that does not depend on a failure
	NoCache   bool             // neither read nor write the step cache
	Pull      cache.PullPolicy // "" is cache.PullMissing
	Env       []string         // KEY=VALUE, over the pipeline's and every step's env
	Secrets   map[string]string
	// ServiceLogs sends the services' output as step_log events of a step
	// named "svc/<name>"; without it their output is kept only for the error
	// of a service that failed.
	ServiceLogs bool
	Trigger     Trigger // branch, event and changed paths, for `when`
	RunID       string  // "" makes one
	KeepRuns    int     // run logs kept in the store; < 1 is 20
	// KeepFailed keeps a failed step's state (root and workspace upper dirs,
	// its workspace lowers, a record of its spec without secret values) in
	// the store, for pipe debug --last and --export.
	KeepFailed bool

	// Remote, if set, is the step cache shared through registries: looked up
	// after a local miss; results of succeeded steps are pushed to its write
	// repository in the background (see RemoteCache).
	Remote RemoteCache
	// RemotePushSecrets pushes the results of steps given secrets too (their
	// outputs may hold them); by default those stay local.
	RemotePushSecrets bool
	// RemoteDeadline is how long the end of the run waits for its pushes
	// before it drops the rest; < 1 is DefaultRemoteDeadline.
	RemoteDeadline time.Duration

	// PullProgress, if set, receives image pull progress (a terminal).
	PullProgress interface{ Write([]byte) (int, error) }
}

// Summary is how a run ended.
type Summary struct {
	RunID    string
	Status   runlog.Status // StatusOK, StatusFailed or StatusCanceled
	Counts   map[runlog.Status]int
	Failed   []string // steps that failed and fail the pipeline, in order
	Infra    []string // of those, the steps pipe itself could not run (start, mount, commit)
	Duration time.Duration
	// Snapshots is how many workspace snapshots the run made: 0 when every
	// step was a cache hit, else 1 (shared by every step that ran).
	Snapshots int
}

// MissingSecretError says secrets the selected steps need have no value.
type MissingSecretError struct {
	Names []string
}

func (e *MissingSecretError) Error() string {
	s := "secret " + e.Names[0] + " is"
	if len(e.Names) > 1 {
		s = "secrets " + strings.Join(e.Names, ", ") + " are"
	}
	return fmt.Sprintf("%s declared by the pipeline but not given: set it in the environment (export %s=...) or in a file passed with --secret-file (%s=VALUE lines)", s, e.Names[0], e.Names[0])
}

// Run runs the pipeline p, or its targets with everything they need, and
// reports everything to o.Sink. Its error is about the run as a whole: an
// invalid selection (*pipeline.UnknownStepError), a missing secret
// (*MissingSecretError), a failure of pipe itself before any step ran (image
// pull, snapshot), or ctx's error when the run was interrupted (then every
// container has been destroyed before Run returns). Step failures are in the
// Summary, not in the error.
func Run(ctx context.Context, p *pipeline.Pipeline, o Options) (sum *Summary, err error) {
	r, err := newRun(ctx, p, o)
	if err != nil {
		return nil, err
	}
	defer func() {
		// A container that could not be destroyed is left for the next
		// run to remove (isolation says so): the run reports it.
		if derr := r.close(); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	if o.NoCache {
		r.prefetchRuntime() // every step will start a container
	}
	if err := r.prepare(ctx); err != nil {
		return nil, err
	}
	if sum, err = r.execute(ctx); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return sum, err
	}
	return sum, nil
}

// run is the state of one Run.
type run struct {
	p       *pipeline.Pipeline
	o       Options
	id      string
	marker  string
	steps   []*pipeline.Step // selected, in topological order
	index   map[string]int   // step name -> position in steps
	states  []*stepState
	masker  *runlog.Masker
	started time.Time

	emitMu      sync.Mutex
	cleanupMu   sync.Mutex
	removals    sync.WaitGroup // staging dirs being removed off the steps' path (removeAfter)
	destroys    sync.WaitGroup // containers being destroyed off the steps' path (destroyLater)
	destroyMu   sync.Mutex
	destroyErrs []error
	unbegun     atomic.Int64 // selected steps whose first attempt has not begun (expectContainers)

	// filled by prepare
	images  map[string]*cache.Image // by reference
	ws      *workspace.Workspace    // the snapshot, once a step has missed the cache (ensureSnapshot)
	snap    snapshotState           // the scan step keys come from, the lazy snapshot, hits not yet leased
	lease   *cache.Lease
	runLog  *runlog.Log
	cleanup []func()

	remote remoteState // traffic with Options.Remote
	pods   podState    // with Options.Pods: what the run made pullable, where steps ran

	debug *debugTarget // pipe debug: the step to debug; nil for pipe run
}

func newRun(ctx context.Context, p *pipeline.Pipeline, o Options) (*run, error) {
	if (o.Runtime == nil && o.Pods == nil) || o.Store == nil || o.Sink == nil {
		return nil, errors.New("executor: Options.Runtime (or Pods), Store and Sink are required")
	}
	g, err := p.Graph.Select(o.Targets...)
	if err != nil {
		return nil, err
	}
	if o.Pods != nil {
		if err := checkPodSteps(g.Order()); err != nil {
			return nil, err
		}
	}
	if o.Jobs < 1 {
		o.Jobs = runtime.NumCPU()
	}
	if o.KeepRuns < 1 {
		o.KeepRuns = 20
	}
	r := &run{p: p, o: o, id: o.RunID, marker: "::pipe-" + randomHex(8) + "::", index: map[string]int{}}
	if r.id == "" {
		r.id = runlog.NewID(time.Now())
	}
	r.steps = g.Order()
	r.unbegun.Store(int64(len(r.steps)))
	for i, s := range r.steps {
		r.index[s.Name] = i
		r.states = append(r.states, &stepState{step: s})
	}
	if err := r.checkSecrets(); err != nil {
		return nil, err
	}
	r.masker = runlog.NewMasker(secretValues(o.Secrets))
	return r, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

// checkSecrets fails when a secret a selected step needs has no value.
func (r *run) checkSecrets() error {
	seen := map[string]bool{}
	var missing []string
	for _, s := range r.steps {
		for _, name := range s.Secrets {
			if _, ok := r.o.Secrets[name]; !ok && !seen[name] {
				seen[name] = true
				missing = append(missing, name)
			}
		}
	}
	if len(missing) > 0 {
		return &MissingSecretError{Names: missing}
	}
	return nil
}

func secretValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// emit sends e to the sink, masked, one event at a time.
func (r *run) emit(e runlog.Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.RunID = r.id
	e = r.masker.MaskEvent(e)
	r.emitMu.Lock()
	defer r.emitMu.Unlock()
	r.o.Sink.Emit(e)
	if r.runLog != nil {
		r.runLog.Emit(e)
	}
}

// close releases what the run holds, last acquired first.
func (r *run) close() error {
	derr := r.destroyErr()
	r.removals.Wait()
	for i := len(r.cleanup) - 1; i >= 0; i-- {
		r.cleanup[i]()
	}
	return derr
}

// execute schedules the steps and emits the run's events.
func (r *run) execute(ctx context.Context) (*Summary, error) {
	r.started = time.Now()
	r.emit(runlog.Event{Type: runlog.EventPipelineStarted, Pipeline: r.p.File, Steps: len(r.steps)})
	r.notePipe(r.startNotes()...)
	r.startRemote(ctx)
	nodes := make([]node, len(r.steps))
	for i, st := range r.states {
		nodes[i] = r.node(st)
	}
	results, err := schedule(ctx, nodes, scheduleOptions{
		Jobs: r.o.Jobs, KeepGoing: r.o.KeepGoing,
		OnReady: func(i int) { r.emit(runlog.Event{Type: runlog.EventStepQueued, Step: r.steps[i].Name}) },
		OnDone:  func(i int, res nodeResult) { r.finishStep(r.states[i], res) },
	})
	r.flushRemote()
	if err != nil { // the pipeline package validated the graph already
		return nil, fmt.Errorf("executor: %w", err)
	}
	return r.summarize(ctx, results), nil
}

// summarize counts the results and emits pipeline_finished.
func (r *run) summarize(ctx context.Context, results []nodeResult) *Summary {
	sum := &Summary{RunID: r.id, Status: runlog.StatusOK, Counts: map[runlog.Status]int{}, Duration: time.Since(r.started), Snapshots: r.snapshotsMade()}
	for i, st := range r.states {
		sum.Counts[st.status]++
		if results[i].Outcome == outcomeFailed && !results[i].Allowed {
			sum.Failed = append(sum.Failed, st.step.Name)
			if st.infra {
				sum.Infra = append(sum.Infra, st.step.Name)
			}
		}
	}
	e := runlog.Event{Type: runlog.EventPipelineFinished, Duration: sum.Duration, Counts: sum.Counts}
	switch {
	case ctx.Err() != nil:
		sum.Status, e.Error = runlog.StatusCanceled, "interrupted"
	case len(sum.Failed) > 0:
		sum.Status, e.Error = runlog.StatusFailed, fmt.Sprintf("%d step(s) failed: %v", len(sum.Failed), sum.Failed)
	}
	e.Status = sum.Status
	r.emit(e)
	return sum
}
