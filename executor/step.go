package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/executor/workspace"
	"github.com/pipe-run/pipe/pipeline"
)

// stepState is what the run knows of one step. The step's own goroutine
// writes it while the step runs; the scheduler's coordinator reads it after
// the step has returned, and the steps that need it read it after they start
// (the scheduler orders both after the write).
type stepState struct {
	step *pipeline.Step

	status     runlog.Status
	start      time.Time
	key        string
	keyWS      *workspace.Workspace // the workspace key was computed from
	hit        bool
	cachedFrom string
	remoteFrom string // the registry repository a hit came from
	layer      string // its output layer for dependants; "" when empty or none
	impure     bool
	exitCode   int
	ran        bool // a container ran (exit code is meaningful)
	peak       int64
	err        error
	reason     string // why it was skipped by `when`
	infra      bool   // pipe failed, not the step
	attempt    int    // the attempt running now
}

// runStep is the node func of one step: attempt 1 decides skip and cache;
// every attempt that gets that far runs a fresh container.
func (r *run) runStep(ctx context.Context, st *stepState, attempt int) (outcome, error) {
	if r.debugging(st.step) {
		return r.debugStep(ctx, st, attempt)
	}
	if attempt == 1 {
		st.start = time.Now()
		left := int(r.unbegun.Add(-1)) + 1 // this step and the ones not begun yet
		if reason := r.skips(st.step); reason != "" {
			st.reason = reason
			return outcomeSkipped, errors.New(reason)
		}
		if err := r.computeKey(st); err != nil {
			st.err, st.infra = err, true
			return outcomeFailed, err
		}
		if ok, err := r.cacheHit(ctx, st); ok || err != nil {
			if err != nil {
				st.err, st.infra = err, true
				return outcomeFailed, err
			}
			return outcomeOK, nil
		}
		r.prefetchRuntime() // overlaps the snapshot of the first miss
		r.expectContainers(left)
	}
	return r.attempt(ctx, st, attempt)
}

// prefetchRuntime lets a runtime that opens lazily start opening now that a
// container will start.
func (r *run) prefetchRuntime() {
	if p, ok := r.o.Runtime.(prefetcher); ok {
		p.Prefetch()
	}
	if p, ok := r.o.Pods.(prefetcher); ok {
		p.Prefetch()
	}
}

// expectContainers tells a runtime that prepares containers ahead how many
// steps may still start one, this one included: a step not begun yet may
// still hit the cache, so it is an upper bound.
func (r *run) expectContainers(n int) {
	if e, ok := r.o.Runtime.(expecter); ok {
		e.Expect(n)
	}
}

// whenSkips returns why the step's `when` skips it, or "".
func (r *run) whenSkips(s *pipeline.Step) string {
	t := r.o.Trigger
	if s.When.Match(t.Branch, t.Event, t.lookupEnv(), t.Changed) {
		return ""
	}
	return fmt.Sprintf("when: not on this run (branch %q, event %q%s)", t.Branch, t.Event, t.changedNote())
}

// cacheHit looks the step's key up; on a hit the step is done.
func (r *run) cacheHit(ctx context.Context, st *stepState) (bool, error) {
	if !r.cacheable(st.step) {
		return false, nil
	}
	res, err := r.o.Store.Result(st.key)
	if errors.Is(err, cache.ErrNotFound) {
		if res, err = r.remoteResult(ctx, st), nil; res == nil {
			return false, nil
		}
	}
	if err != nil {
		return false, fmt.Errorf("step %s: step cache: %w", st.step.Name, err)
	}
	st.hit, st.cachedFrom = true, res.Meta.RunID
	if res.Meta.Files > 0 {
		st.layer = res.Dir
	}
	r.noteHit(st.step.Name, st.key, st.layer) // leased before the first container
	// step_finished says it: status cached, cache_hit, cached_from (the
	// terminal prints "cached (from run X)").
	return true, nil
}

// cacheable reports whether the step reads and writes the step cache.
func (r *run) cacheable(s *pipeline.Step) bool {
	return s.Cache && !r.o.NoCache
}

// attempt runs one attempt of the step in a fresh container.
func (r *run) attempt(ctx context.Context, st *stepState, attempt int) (outcome, error) {
	s := st.step
	st.attempt = attempt
	emit := func(e runlog.Event) { e.Attempt = attempt; r.emit(e) }
	if err := r.ensureSnapshot(ctx, st); err != nil {
		st.err, st.infra = err, true
		return outcomeFailed, err
	}
	file, err := r.runLog.Step(s.Name)
	if err != nil {
		st.err, st.infra = err, true
		return outcomeFailed, err
	}
	defer file.Close()
	log := runlog.NewStepLog(s.Name, r.masker, emit, file)
	r.emit(runlog.Event{Type: runlog.EventStepStarted, Step: s.Name, Attempt: attempt, Key: st.key})
	if attempt > 1 {
		log.Note("retry: attempt %d of %d, after: %v", attempt, 1+s.Retry, st.err)
	}
	if st.impure {
		log.Note("impure: network host (the step cache keeps its result unless cache: false)")
	}
	st.err, st.infra, st.ran, st.exitCode = nil, false, false, 0
	o, err := r.containerFunc(st.step)(ctx, st, log)
	if o == outcomeFailed && st.err == nil {
		st.err = err
	}
	if o == outcomeFailed && st.ran && ctx.Err() == nil {
		log.Note("failed: %v", err)
	}
	log.Close()
	return o, err
}

// stepError builds the error of a container that ended badly.
func stepError(s *pipeline.Step, exit int, timedOut, oom bool, current int) error {
	switch {
	case timedOut:
		return fmt.Errorf("timed out after %s", s.Timeout)
	case oom:
		return fmt.Errorf("killed: out of memory (limit %d bytes; raise resources.memory)", s.Resources.Memory)
	case current > 0 && !s.Script:
		return fmt.Errorf("command %d failed with exit code %d: %s", current, exit, commandHead(s.Run[current-1]))
	default:
		return fmt.Errorf("exit code %d", exit)
	}
}

// keepLayer makes the filtered upper dir the step's output layer: committed
// to the step cache, or kept for this run only when the step is not cached.
func (r *run) keepLayer(st *stepState, upper string) error {
	stats, err := filterOutputs(upper, st.step.Outputs)
	if err != nil {
		r.o.Store.RemoveStaging(upper)
		return err
	}
	if !r.cacheable(st.step) {
		r.addCleanup(func() { r.o.Store.RemoveStaging(upper) })
		if stats.Files > 0 {
			st.layer = upper
		}
		return nil
	}
	meta := cache.ResultMeta{Step: st.step.Name, RunID: r.id, Created: time.Now(), Size: stats.Size, Files: stats.Files}
	res, err := r.o.Store.CommitResult(st.key, upper, meta)
	if err != nil {
		return fmt.Errorf("step %s: commit its output layer: %w", st.step.Name, err)
	}
	if err := r.lease.Add(st.key); err != nil {
		return fmt.Errorf("step %s: lease: %w", st.step.Name, err)
	}
	if res.Meta.Files > 0 {
		st.layer = res.Dir
	}
	return nil
}

// finishStep emits a step's step_finished event; the scheduler calls it once
// per step, after the step's goroutine has returned.
func (r *run) finishStep(st *stepState, res nodeResult) {
	e := runlog.Event{Type: runlog.EventStepFinished, Step: st.step.Name, Attempt: res.Attempts, Key: st.key,
		Impure: st.impure, Reason: res.Reason}
	if !st.start.IsZero() {
		e.Duration = time.Since(st.start)
	}
	switch res.Outcome {
	case outcomeOK:
		st.status = runlog.StatusOK
		if st.hit {
			st.status, e.CacheHit, e.CachedFrom, e.Remote = runlog.StatusCached, true, st.cachedFrom, st.remoteFrom
		}
		r.pushLater(st)
	case outcomeFailed:
		st.status = runlog.StatusFailed
		if err := st.err; err != nil {
			e.Error = err.Error()
		} else if res.Err != nil {
			e.Error = res.Err.Error()
		}
	case outcomeSkipped:
		st.status = runlog.StatusSkipped
		if e.Reason == "" {
			e.Reason = st.reason
		}
	default:
		st.status = runlog.StatusCanceled
		if e.Reason == "" {
			e.Reason = "canceled"
		}
	}
	if st.ran && (st.status == runlog.StatusOK || st.status == runlog.StatusFailed) {
		e.ExitCode, e.PeakMemory = st.exitCode, st.peak
	}
	e.Status = st.status
	r.emit(e)
}

// containerID names a step's container: unique, and readable in ps and cgroups.
func (r *run) containerID(s *pipeline.Step, attempt int, suffix string) string {
	name := strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '-', c == '_':
			return c
		}
		return '_'
	}, s.Name)
	if len(name) > 64 {
		name = name[:64]
	}
	return fmt.Sprintf("pipe-%s-%s-%d%s-%s", r.id[len(r.id)-8:], name, attempt, suffix, randomHex(3))
}
