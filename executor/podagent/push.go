package podagent

import (
	"context"
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
// A sidecar restarted after it has reported only waits.
//
// Push returns an error only when it could not report at all; a failed
// diff or push is reported in pushed.json and returns nil.
func (a *Agent) Push(ctx context.Context, sp Spec) error {
	if _, err := os.Stat(a.Paths.Pushed()); err == nil {
		a.logf("the diff was reported already; waiting to be stopped")
		<-ctx.Done()
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

// report writes pushed.json, then waits for ctx to end.
func (a *Agent) report(ctx context.Context, p Pushed) error {
	if err := writeJSONAtomic(a.Paths.Pushed(), p); err != nil {
		return err
	}
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

// pushDiff diffs the workspace into a blob and pushes it.
func (a *Agent) pushDiff(ctx context.Context, sp Spec) (Pushed, error) {
	repo, err := sp.repository()
	if err != nil {
		return Pushed{}, err
	}
	idx, err := cache.LoadTreeIndex(a.Paths.Index())
	if err != nil {
		return Pushed{}, fmt.Errorf("%w (did pod-agent init run?)", err)
	}
	layer, remove, changed, err := diffLayer(ctx, idx, a.Paths.Workspace, a.Paths.State)
	if err != nil {
		return Pushed{}, err
	}
	defer remove()
	if !changed {
		return Pushed{Unchanged: true}, nil
	}
	desc, err := describe(layer)
	if err != nil {
		return Pushed{}, err
	}
	opts, err := remoteOptions(ctx, sp.Insecure)
	if err != nil {
		return Pushed{}, err
	}
	if err := remote.WriteLayer(repo, layer, opts...); err != nil {
		return Pushed{}, fmt.Errorf("push the diff %s to %s: %w", desc.Digest, sp.Repo, err)
	}
	return Pushed{Layer: desc}, nil
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
		return nil, nil, false, fmt.Errorf("diff the workspace: %w", errors.Join(derr, cerr))
	}
	return l, remove, changed, nil
}
