package executor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/pipeline"
)

// podGrace is how much longer than the step's timeout the executor waits
// for its pod: the cluster enforces the timeout itself (the pod's active
// deadline), and this bounds a cluster that does not.
const podGrace = 30 * time.Second

// killedExit is the exit code of a step killed by pipe (timeout, out of
// memory), as a local container reports it: 128 + SIGKILL.
const killedExit = 128 + 9

// runPod runs one attempt's pod: the local runContainer with the
// container swapped for a pod, and the upper dir fetched from the registry.
func (r *run) runPod(ctx context.Context, st *stepState, log *runlog.StepLog) (outcome, error) {
	s := st.step
	r.restoreVolumes(ctx, s, log)
	mounts, release, err := r.acquireVolumes(ctx, s.Caches, log)
	if err != nil {
		return r.infraFailure(ctx, st, err)
	}
	// The volumes are held for the pod's life and while its diffs are applied.
	defer release()
	ps, err := r.podStep(ctx, st, log) // pushes: not the step's time
	if err == nil {
		ps.Volumes, err = r.podVolumes(ctx, mounts)
	}
	if err != nil {
		return r.infraFailure(ctx, st, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout+podGrace)
	defer cancel()
	echo := newCommandEcho(r.marker, s.Run, log, log.Note)
	ps.Stdout, ps.Note = echo, func(n string) { log.Note("%s", n) }
	res, err := r.o.Pods.Run(ctx, ps)
	echo.Flush()
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		res, err = &PodResult{TimedOut: true}, nil // the timeout covers the start too
	}
	if err != nil {
		return r.infraFailure(ctx, st, fmt.Errorf("step %s: pod: %w", s.Name, err))
	}
	r.pods.ranOn(s.Name, res.Node)
	for _, n := range res.Notes {
		log.Note("%s", n)
	}
	if res.Detail != "" && !res.TimedOut && !res.OOMKilled && !res.Canceled {
		return r.infraFailure(ctx, st, fmt.Errorf("step %s: %s", s.Name, res.Detail))
	}
	if err := r.applyPodVolumes(ctx, res, mounts); err != nil {
		return r.infraFailure(ctx, st, fmt.Errorf("step %s: %w", s.Name, err))
	}
	return r.podEnded(ctx, st, res, echo.Current(), log)
}

// podEnded brings the pod's diff back and goes on as a local container's
// end does: the output layer on success, the kept failure otherwise.
func (r *run) podEnded(ctx context.Context, st *stepState, res *PodResult, current int, log *runlog.StepLog) (outcome, error) {
	s := st.step
	st.ran, st.exitCode = true, podExitCode(res)
	failed := st.exitCode != 0 || res.TimedOut || res.Canceled || res.OOMKilled
	upper, ferr := r.podUpper(ctx, res)
	if failed {
		err := stepError(s, st.exitCode, res.TimedOut, res.OOMKilled, current)
		if ferr != nil && ctx.Err() == nil {
			log.Note("%v", ferr)
		}
		r.keepPodFailure(ctx, st, upper, current, err, log)
		return outcomeFailed, err
	}
	if ferr != nil {
		if upper != "" {
			r.o.Store.RemoveStaging(upper)
		}
		return r.infraFailure(ctx, st, fmt.Errorf("step %s: %w", s.Name, ferr))
	}
	if err := r.keepLayer(st, upper); err != nil {
		return r.infraFailure(ctx, st, err)
	}
	return outcomeOK, nil
}

// podExitCode is the step's exit code as a local container reports it: a
// step pipe killed exits 128 + SIGKILL.
func podExitCode(res *PodResult) int {
	if res.TimedOut || (res.OOMKilled && res.ExitCode == 0) {
		return killedExit
	}
	return res.ExitCode
}

// podUpper fetches the pod's diff into a fresh staging dir: the step's
// workspace upper dir, as a local overlay would have left it (empty when
// the pod pushed no diff). When the fetch fails the dir is empty again,
// for a failed step's kept state, and the error says why; "" only when no
// staging dir could be made.
func (r *run) podUpper(ctx context.Context, res *PodResult) (string, error) {
	upper, err := r.o.Store.NewStaging("workspace")
	if err != nil {
		return "", fmt.Errorf("workspace upper dir: %w", err)
	}
	if res.Diff == nil {
		return upper, nil
	}
	ferr := r.o.Pods.Diff(ctx, *res.Diff, upper)
	if ferr == nil {
		return upper, nil
	}
	r.o.Store.RemoveStaging(upper)
	upper, _ = r.o.Store.NewStaging("workspace")
	return upper, fmt.Errorf("fetch what the step wrote under %s (%s): %w", pipeline.Workspace, res.Diff.Digest, ferr)
}

// keepPodFailure keeps a failed pod's state for pipe debug --last as a
// local container's is kept: the workspace upper dir is the pod's diff, and
// the root's upper dir is empty (what the step wrote outside /workspace
// stayed in the pod). upper is consumed.
func (r *run) keepPodFailure(ctx context.Context, st *stepState, upper string, current int, stepErr error, log *runlog.StepLog) {
	if upper == "" {
		return
	}
	defer r.o.Store.RemoveStaging(upper) // a no-op once kept
	spec := r.stepSpec(st, nil, upper, "")
	spec.Hosts = serviceHosts(st.step)
	drop, err := r.keepableRoot(spec)
	if err != nil {
		log.Note("keep-failed: could not keep the step's state: %v", err)
		return
	}
	defer drop()
	if r.o.KeepFailed && ctx.Err() == nil {
		log.Note("keep-failed: the step ran in a pod: what it wrote outside %s is not kept", pipeline.Workspace)
	}
	r.keepFailure(ctx, st, spec, current, stepErr, log)
}

// serviceHosts maps every host name of the step's services to loopback, as
// the step saw them.
func serviceHosts(s *pipeline.Step) map[string]string {
	if len(s.Services) == 0 {
		return nil
	}
	hosts := map[string]string{}
	for _, svc := range s.Services {
		for _, h := range svc.HostNames() {
			hosts[h] = "127.0.0.1"
		}
	}
	return hosts
}
