package podagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pipe-run/pipe/cache"
)

// Push is the push sidecar: it waits for the step to be done, writes what
// the step changed under the workspace (DiffTree against Init's index) as
// a compressed layer in the state dir, pushes it to the spec's repository
// and reports in pushed.json, the layer or the error. Then it waits for ctx
// to end (the sidecar's SIGTERM): a native sidecar that exits is restarted.
// A sidecar restarted after it has reported only waits. Stopped, it writes
// its report again as its own termination message.
//
// Push returns an error only when it could not report at all; a failed
// diff or push is reported in pushed.json and returns nil.
func (a *Agent) Push(ctx context.Context, sp Spec) error {
	var earlier Pushed
	if err := readJSON(a.Paths.Pushed(), &earlier); err == nil {
		a.logf("the diff was reported already; waiting to be stopped")
		<-ctx.Done()
		a.terminatePush(earlier)
		return nil
	}
	var done Done
	if err := waitJSON(ctx, a.Paths.Done(), &done); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before the step ended: nothing to push
		}
		return a.report(ctx, Pushed{Error: err.Error()})
	}
	a.logf("the step exited with %d; pushing its diff", done.Exit)
	p, err := a.pushDiff(ctx, sp)
	if err != nil {
		p = Pushed{Error: err.Error()}
	}
	return a.report(ctx, p)
}

// report writes pushed.json, then waits for ctx to end and writes the
// same report as the push container's termination message: unlike the
// step container's, the step's script cannot forge that one (it can write
// to /.pipe, not to another container's termination log).
func (a *Agent) report(ctx context.Context, p Pushed) error {
	if err := writeJSONAtomic(a.Paths.Pushed(), p); err != nil {
		return err
	}
	defer a.terminatePush(p)
	switch {
	case p.Error != "":
		a.logf("no diff pushed: %s", p.Error)
	case p.Unchanged:
		a.logf("the step changed nothing in the workspace")
	default:
		a.logf("pushed the diff %s (%d bytes)", p.Digest, p.Size)
	}
	<-ctx.Done()
	return nil
}

// pushDiff diffs the workspace, then each cache volume, into blobs and
// pushes them.
func (a *Agent) pushDiff(ctx context.Context, sp Spec) (Pushed, error) {
	ws, err := a.pushTreeDiff(ctx, sp, a.Paths.Index(), a.Paths.Workspace)
	if err != nil {
		return Pushed{}, err
	}
	p := Pushed{Unchanged: ws == nil}
	if ws != nil {
		p.Layer = *ws
	}
	for i := range sp.Volumes {
		l, err := a.pushTreeDiff(ctx, sp, a.Paths.VolumeIndex(i), a.Paths.Volume(i))
		if err != nil {
			return Pushed{}, fmt.Errorf("cache volume %d: %w", i, err)
		}
		p.Volumes = append(p.Volumes, l)
	}
	return p, nil
}

// pushTreeDiff diffs dir against the index Init saved at index, and pushes
// the diff; nil when nothing changed.
func (a *Agent) pushTreeDiff(ctx context.Context, sp Spec, index, dir string) (*Layer, error) {
	repo, err := sp.repository()
	if err != nil {
		return nil, err
	}
	idx, err := cache.LoadTreeIndex(index)
	if err != nil {
		return nil, fmt.Errorf("%w (did pod-agent init run?)", err)
	}
	layer, remove, changed, err := diffLayer(ctx, idx, dir, a.Paths.State)
	if err != nil {
		return nil, err
	}
	defer remove()
	if !changed {
		return nil, nil
	}
	desc, err := describe(layer)
	if err != nil {
		return nil, err
	}
	opts, err := remoteOptions(ctx, sp.Insecure)
	if err != nil {
		return nil, err
	}
	if err := remote.WriteLayer(repo, layer, opts...); err != nil {
		return nil, fmt.Errorf("push the diff %s to %s: %w", desc.Digest, sp.Repo, err)
	}
	return &desc, nil
}

// diffLayer writes the diff of dir against idx as a compressed layer in a
// temp file of tmpDir; remove deletes the file.
func diffLayer(ctx context.Context, idx *cache.TreeIndex, dir, tmpDir string) (l v1.Layer, remove func() error, changed bool, err error) {
	pr, pw := io.Pipe()
	res := make(chan error, 1)
	go func() {
		var err error
		changed, err = cache.DiffTree(ctx, idx, dir, pw)
		pw.CloseWithError(err)
		res <- err
	}()
	l, remove, cerr := cache.CompressLayer(pr, tmpDir)
	pr.CloseWithError(errors.New("the compression stopped"))
	derr := <-res
	if derr != nil || cerr != nil {
		if remove != nil {
			remove()
		}
		return nil, nil, false, fmt.Errorf("diff %s: %w", dir, errors.Join(derr, cerr))
	}
	return l, remove, changed, nil
}

// terminatePush writes the push container's termination message: what
// pushed.json holds, its error cut to fit.
func (a *Agent) terminatePush(p Pushed) {
	if len(p.Error) > maxTermination/2 {
		p.Error = p.Error[:maxTermination/2] + "..."
	}
	b, _ := json.Marshal(p)
	if err := os.WriteFile(a.Paths.TerminationLog, b, 0o644); err != nil {
		a.logf("write the termination message: %v", err)
	}
}
