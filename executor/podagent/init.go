package podagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pipe-run/pipe/cache"
)

// Init prepares the pod for the step: it copies the agent binary to the
// shared state dir (for the step container, whose image has none), applies
// the spec's layers in order onto the empty workspace, each checked against
// its digest and diffID, and writes the tree index Push diffs against.
// On failure the workspace is emptied again and no index is written, so
// nothing half-applied is ever taken for a workspace, and the error is the
// init container's termination message too, {"error":"..."}, for the
// coordinator to report.
func (a *Agent) Init(ctx context.Context, sp Spec) error {
	err := a.init(ctx, sp)
	if err != nil {
		if werr := os.WriteFile(a.Paths.TerminationLog, errorMessage(err.Error()), 0o644); werr != nil {
			a.logf("write the termination message: %v", werr)
		}
	}
	return err
}

func (a *Agent) init(ctx context.Context, sp Spec) error {
	if err := a.installBinary(); err != nil {
		return err
	}
	if err := checkEmptyDir(a.Paths.Workspace); err != nil {
		return err
	}
	if err := a.applyLayers(ctx, sp); err != nil {
		if cerr := emptyDir(a.Paths.Workspace); cerr != nil {
			err = errors.Join(err, fmt.Errorf("empty the workspace again: %w", cerr))
		}
		return err
	}
	idx, err := cache.IndexTree(a.Paths.Workspace)
	if err != nil {
		return fmt.Errorf("index the workspace: %w", err)
	}
	if err := idx.Save(a.Paths.Index()); err != nil {
		return err
	}
	a.logf("workspace ready: %d layers, %d paths", len(sp.Layers), idx.Len())
	return a.initVolumes(ctx, sp)
}

// initVolumes applies each cache volume's layer onto its emptyDir, as the
// workspace's (checked, by the safe extractor), and indexes it for Push.
func (a *Agent) initVolumes(ctx context.Context, sp Spec) error {
	if len(sp.Volumes) == 0 {
		return nil
	}
	f, err := newFetcher(ctx, sp)
	if err != nil {
		return err
	}
	for i, l := range sp.Volumes {
		dir := a.Paths.Volume(i)
		if err := checkEmptyDir(dir); err != nil {
			return fmt.Errorf("cache volume %d: %w", i, err)
		}
		if err := f.apply(ctx, l, dir); err != nil {
			if cerr := emptyDir(dir); cerr != nil {
				err = errors.Join(err, fmt.Errorf("empty it again: %w", cerr))
			}
			return fmt.Errorf("cache volume %d (%s) from %s: %w", i, l.Digest, sp.Repo, err)
		}
		idx, err := cache.IndexTree(dir)
		if err != nil {
			return fmt.Errorf("index cache volume %d: %w", i, err)
		}
		if err := idx.Save(a.Paths.VolumeIndex(i)); err != nil {
			return err
		}
		a.logf("cache volume %d ready: %d paths", i, idx.Len())
	}
	return nil
}

// installBinary copies Self to the state dir, mode 0755, atomically.
func (a *Agent) installBinary() error {
	src, err := os.Open(a.Paths.Self)
	if err != nil {
		return fmt.Errorf("copy the agent binary: %w", err)
	}
	defer src.Close()
	dst := a.Paths.Binary()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".pipe.tmp-*")
	if err != nil {
		return fmt.Errorf("copy the agent binary into %s: %w", a.Paths.State, err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	_, err = io.Copy(tmp, src)
	if err == nil {
		err = tmp.Chmod(0o755)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return fmt.Errorf("copy the agent binary to %s: %w", dst, err)
	}
	return nil
}

// checkEmptyDir refuses a workspace that is missing or holds anything: the
// layers are applied onto the pod's fresh emptyDir only.
func checkEmptyDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("the workspace: %w (the pod mounts an emptyDir there)", err)
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if err != nil && err != io.EOF {
		return fmt.Errorf("the workspace %s: %w", dir, err)
	}
	if len(names) > 0 {
		return fmt.Errorf("the workspace %s is not empty (it holds %q): init applies the layers onto the pod's fresh emptyDir only", dir, names[0])
	}
	return nil
}

// emptyDir removes everything in dir, but not dir itself.
func emptyDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range names {
		errs = append(errs, os.RemoveAll(filepath.Join(dir, n)))
	}
	return errors.Join(errs...)
}

// applyLayers fetches and applies the spec's layers in order.
func (a *Agent) applyLayers(ctx context.Context, sp Spec) error {
	if len(sp.Layers) == 0 {
		return nil
	}
	f, err := newFetcher(ctx, sp)
	if err != nil {
		return err
	}
	for i, l := range sp.Layers {
		if err := f.apply(ctx, l, a.Paths.Workspace); err != nil {
			return fmt.Errorf("workspace layer %d of %d (%s) from %s: %w", i+1, len(sp.Layers), l.Digest, sp.Repo, err)
		}
		a.logf("applied layer %d of %d (%s, %d bytes)", i+1, len(sp.Layers), l.Digest, l.Size)
	}
	return nil
}
