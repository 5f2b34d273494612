package executor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/pipeline"
)

// RemoteCache is a step cache shared through registries (pipe run
// --cache-from / --cache-to); *cache.Shared satisfies it. The executor asks
// it after a local miss and gives it every result worth sharing; it is never
// on the critical path of a run and never changes its outcome: an error is a
// miss (or a dropped push) and a warning.
//
// Its methods are called from several goroutines at once.
type RemoteCache interface {
	// FetchResult looks key up in the read repositories and, on a hit,
	// stores the result locally and returns it with the repository it came
	// from; a miss is a nil Result. errs are failures to report.
	FetchResult(ctx context.Context, key string) (res *cache.Result, from string, errs []error)
	// PushResult pushes the stored result of key to the write repository
	// unless it holds it already (pushed false).
	PushResult(ctx context.Context, key string) (pushed bool, err error)
	// Writes is the write repository, "" when the cache is read only.
	Writes() string
}

// Remote cache operations, in Event.RemoteOp of EventRemote events.
const (
	RemoteHit     = "hit"     // a step's result came from a registry (Remote: which)
	RemoteMiss    = "miss"    // no read repository had the step's key
	RemotePush    = "push"    // a step's result was pushed to the write repository
	RemoteDropped = "dropped" // a push did not finish: the registry failed or the run's deadline passed (Error says which)
	RemoteError   = "error"   // a registry failed or an entry was refused (Error); the run goes on without it
)

// DefaultRemoteDeadline is how long the end of a run waits for its pushes.
const DefaultRemoteDeadline = 60 * time.Second

// pushJobs bounds the pushes running at once.
const pushJobs = 2

// remoteState is the run's traffic with its RemoteCache.
type remoteState struct {
	ctx    context.Context // of the pushes: canceled at the deadline
	cancel context.CancelFunc
	slots  chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	warned  map[string]bool   // repositories warned about
	pending map[string]string // step -> key of pushes not finished
	pushed  int
	dropped []string                 // steps (and "volume X") whose push failed
	volumes map[string]*sharedVolume // cache volumes the run used
	kept    []string                 // volumes not pushed: steps given secrets mounted them
}

// startRemote prepares the run's pushes; ctx is the run's.
func (r *run) startRemote(ctx context.Context) {
	rs := &r.remote
	rs.ctx, rs.cancel = context.WithCancel(ctx)
	rs.slots = make(chan struct{}, pushJobs)
	rs.warned, rs.pending = map[string]bool{}, map[string]string{}
}

// remoteResult looks the step's key up in the shared cache after a local
// miss; nil on a miss.
func (r *run) remoteResult(ctx context.Context, st *stepState) *cache.Result {
	if r.o.Remote == nil {
		return nil
	}
	res, from, errs := r.o.Remote.FetchResult(ctx, st.key)
	for _, err := range errs {
		r.remoteWarn(st.step.Name, err)
	}
	if res == nil {
		r.emit(runlog.Event{Type: runlog.EventRemote, RemoteOp: RemoteMiss, Step: st.step.Name, Key: st.key})
		return nil
	}
	st.remoteFrom = from
	r.emit(runlog.Event{Type: runlog.EventRemote, RemoteOp: RemoteHit, Remote: from, Step: st.step.Name, Key: st.key})
	return res
}

// pushable reports whether a finished step's result may be shared: it is
// cached, it did not come from a registry, it ran with no network (a step on
// the host's network may have fetched anything), and it was given no secrets
// (its output may hold them) unless Options.RemotePushSecrets says so.
func (r *run) pushable(st *stepState) bool {
	s := st.step
	if r.o.Remote == nil || r.o.Remote.Writes() == "" || !r.cacheable(s) || st.key == "" || st.remoteFrom != "" {
		return false
	}
	return s.Network == pipeline.NetworkNone && (len(s.Secrets) == 0 || r.o.RemotePushSecrets)
}

// pushLater pushes a succeeded step's result in the background.
func (r *run) pushLater(st *stepState) {
	if !r.pushable(st) {
		return
	}
	rs := &r.remote
	name, key := st.step.Name, st.key
	rs.mu.Lock()
	rs.pending[name] = key
	rs.mu.Unlock()
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		select {
		case rs.slots <- struct{}{}:
			defer func() { <-rs.slots }()
		case <-rs.ctx.Done():
			r.pushDone(name, key, false, rs.ctx.Err())
			return
		}
		pushed, err := r.o.Remote.PushResult(rs.ctx, key)
		r.pushDone(name, key, pushed, err)
	}()
}

// pushDone records the end of one push.
func (r *run) pushDone(step, key string, pushed bool, err error) {
	rs := &r.remote
	rs.mu.Lock()
	delete(rs.pending, step)
	if err != nil {
		rs.dropped = append(rs.dropped, step)
	} else if pushed {
		rs.pushed++
	}
	rs.mu.Unlock()
	switch {
	case err != nil:
		if !errors.Is(err, cache.ErrRemoteOff) && !errors.Is(err, context.Canceled) {
			r.remoteWarn(step, err)
		}
		r.emit(runlog.Event{Type: runlog.EventRemote, RemoteOp: RemoteDropped, Remote: r.o.Remote.Writes(), Step: step, Key: key, Error: err.Error()})
	case pushed:
		r.emit(runlog.Event{Type: runlog.EventRemote, RemoteOp: RemotePush, Remote: r.o.Remote.Writes(), Step: step, Key: key})
	}
}

// flushRemote waits for the pushes until the deadline, then drops the rest,
// and says what was pushed and what was dropped.
func (r *run) flushRemote() {
	if r.o.Remote == nil || r.remote.cancel == nil {
		return
	}
	rs := &r.remote
	deadline := r.o.RemoteDeadline
	if deadline <= 0 {
		deadline = DefaultRemoteDeadline
	}
	r.pushVolumes()
	done := make(chan struct{})
	go func() { rs.wg.Wait(); close(done) }()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	late := false
	select {
	case <-done:
	case <-timer.C:
		late = true
		rs.cancel()
		<-done
	}
	rs.cancel()
	r.notePipe(r.pushSummary(late, deadline)...)
}

// pushSummary is the run's last word on its pushes.
func (r *run) pushSummary(late bool, deadline time.Duration) []string {
	rs := &r.remote
	rs.mu.Lock()
	defer rs.mu.Unlock()
	repo := r.o.Remote.Writes()
	var notes []string
	if rs.pushed > 0 {
		notes = append(notes, fmt.Sprintf("remote cache %s: pushed %d step result(s)", repo, rs.pushed))
	}
	if len(rs.dropped) > 0 {
		sort.Strings(rs.dropped)
		why := "the registry failed"
		if late {
			why = fmt.Sprintf("not done within %s", deadline)
		}
		note := fmt.Sprintf("remote cache %s: dropped %d push(es) (%s): %s; the next run pushes them again",
			repo, len(rs.dropped), why, strings.Join(rs.dropped, ", "))
		if !rs.warned[repo] {
			note = "warning: " + note // else the registry's failure was the warning
		}
		notes = append(notes, note)
	}
	if len(rs.kept) > 0 {
		sort.Strings(rs.kept)
		notes = append(notes, fmt.Sprintf("remote cache %s: cache volume(s) %s not pushed: steps given secrets mounted them (--cache-push-secrets pushes them)",
			repo, strings.Join(rs.kept, ", ")))
	}
	return notes
}

// remoteWarn reports a failure of the shared cache: an event every time, a
// warning once per repository (a refused entry is warned about every time:
// it is about the entry, not the registry).
func (r *run) remoteWarn(step string, err error) {
	var re *cache.RemoteError
	repo := ""
	if errors.As(err, &re) {
		repo = re.Repo
	}
	if errors.Is(err, cache.ErrRemoteOff) {
		return
	}
	r.emit(runlog.Event{Type: runlog.EventRemote, RemoteOp: RemoteError, Remote: repo, Step: step, Error: err.Error()})
	var de *cache.DigestError
	if errors.As(err, &de) {
		r.notePipe(fmt.Sprintf("warning: step %s: %v; not used (a miss)", step, err))
		return
	}
	rs := &r.remote
	rs.mu.Lock()
	seen := rs.warned[repo]
	rs.warned[repo] = true
	rs.mu.Unlock()
	if !seen {
		r.notePipe(fmt.Sprintf("warning: %v; the run goes on without this registry", err))
	}
}
