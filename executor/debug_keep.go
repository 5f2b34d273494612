package executor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pipe-run/pipe/executor/kept"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/isolation"
	"github.com/pipe-run/pipe/pipeline"
)

// keepableRoot gives the step's root filesystem an upper dir of pipe's own
// when failures are kept (else the runtime's scratch dir is used, and lost
// with the container). The returned func removes what was not kept.
func (r *run) keepableRoot(spec *isolation.Spec) (func(), error) {
	if !r.o.KeepFailed {
		return func() {}, nil
	}
	upper, work, err := r.stagingPair()
	if err != nil {
		return nil, fmt.Errorf("root upper dir: %w", err)
	}
	spec.Root.Upper, spec.Root.Work = upper, work
	return func() { r.o.Store.RemoveStaging(upper); r.o.Store.RemoveStaging(work) }, nil
}

// keepFailure keeps the failed step's state, saying so in its log.
func (r *run) keepFailure(ctx context.Context, st *stepState, spec *isolation.Spec, current int, stepErr error, log *runlog.StepLog) {
	if !r.o.KeepFailed || spec.Root.Upper == "" || ctx.Err() != nil {
		return
	}
	dir, err := r.keepState(st, spec, current, stepErr)
	if err != nil {
		log.Note("keep-failed: could not keep the step's state: %v", err)
		return
	}
	log.Note("kept its state in %s: pipe debug --last opens a shell in it", dir)
}

// keepState moves the upper dirs into a new kept dir and records the spec.
func (r *run) keepState(st *stepState, spec *isolation.Spec, current int, stepErr error) (string, error) {
	stage, err := r.o.Store.NewStaging("kept")
	if err != nil {
		return "", err
	}
	defer r.o.Store.RemoveStaging(stage) // its tmp/ entry too, once stage is published
	ws := workspaceMount(spec)
	if ws == nil {
		return "", errors.New("the step has no workspace overlay")
	}
	if err := kept.MoveDir(spec.Root.Upper, filepath.Join(stage, "root")); err != nil {
		return "", err
	}
	if err := kept.MoveDir(ws.Overlay.Upper, filepath.Join(stage, "ws")); err != nil {
		return "", err
	}
	for i, l := range ws.Overlay.Lower {
		if err := kept.LinkTree(l, filepath.Join(stage, "lower", strconv.Itoa(i))); err != nil {
			return "", fmt.Errorf("keep workspace layer %s: %w", l, err)
		}
	}
	rec := r.keptRecordOf(st, spec, len(ws.Overlay.Lower), current, stepErr)
	return kept.Publish(r.o.Store, stage, r.id+"-"+runlog.StepFile(st.step.Name), rec)
}

// kept.Record describes the failed container.
func (r *run) keptRecordOf(st *stepState, spec *isolation.Spec, lowers, current int, stepErr error) *kept.Record {
	s := st.step
	img := r.images[s.Image]
	rec := &kept.Record{Schema: kept.Schema, RunID: r.id, Step: s.Name, Created: time.Now().UTC(),
		Image: img.Ref, ImageDigest: img.Digest.String(), ImageLayers: img.Layers, Lowers: lowers,
		Env: withoutNames(spec.Process.Env, s.Secrets), Secrets: s.Secrets, Dir: spec.Process.Dir,
		User: spec.Process.User, Network: string(spec.Network.Mode), Limits: spec.Limits, Caches: s.Caches,
		Hosts: spec.Hosts, Services: r.keptServices(s), ExitCode: st.exitCode, Error: r.masker.Mask(stepErr.Error())}
	if spec.Network.Mode == isolation.NetworkJoin {
		rec.Network = string(isolation.NetworkNone) // its services' namespace is gone: --last makes a new one
	}
	if !s.Script && current > 0 {
		rec.Command, rec.CommandText = current, s.Run[current-1]
	}
	return rec
}

// workspaceMount is the spec's /workspace overlay.
func workspaceMount(spec *isolation.Spec) *isolation.Mount {
	for i, m := range spec.Mounts {
		if m.Type == isolation.MountOverlay && m.Target == pipeline.Workspace {
			return &spec.Mounts[i]
		}
	}
	return nil
}

// withoutNames drops the KEY=VALUE entries whose KEY is in names.
func withoutNames(env, names []string) []string {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	var out []string
	for _, e := range env {
		k, _, _ := cutEnv(e)
		if !drop[k] {
			out = append(out, e)
		}
	}
	return out
}

func cutEnv(e string) (string, string, bool) {
	for i := 0; i < len(e); i++ {
		if e[i] == '=' {
			return e[:i], e[i+1:], true
		}
	}
	return e, "", false
}
