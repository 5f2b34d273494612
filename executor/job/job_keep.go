package job

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor"
	"github.com/pipe-run/pipe/executor/kept"
	"github.com/pipe-run/pipe/isolation"
)

// KeepOptions says what of a failed job Keep keeps for pipe debug --last.
type KeepOptions struct {
	Container string // the job's container whose state is kept (it has KeepRoot)
	// Workspace is a host dir of the job (its builds dir, bind-mounted into
	// the container at Target): kept as the workspace, reopened at Target.
	Workspace, Target string
	Step              string // the failed step's name, as --last shows it
	Dir               string // the shell's working dir
	ExitCode          int
	Error             string
}

// Keep destroys the job's containers and services, then keeps the
// container's root upper dir and the workspace dir in the store's kept
// failures (as pipe run --keep-failed does; the oldest beyond the last few
// go), and removes the rest of the job. It returns the kept dir.
func Keep(ctx context.Context, s *cache.Store, name string, k KeepOptions) (string, error) {
	dir := Dir(s, name)
	job, err := readResolvedJob(dir)
	if err != nil {
		return "", &Error{Job: name, Op: "keep", Err: err}
	}
	if id, err := readKeeper(dir); err == nil && id.alive() {
		_ = askDestroy(ctx, dir)
		waitGone(id, 10*time.Second)
		id.kill()
		waitGone(id, 5*time.Second)
	}
	kept, err := keepJobState(s, job, dir, k)
	if derr := Destroy(ctx, s, name); err == nil && derr != nil {
		err = derr
	}
	if err != nil {
		return "", &Error{Job: name, Op: "keep", Err: err}
	}
	return kept, nil
}

func keepJobState(s *cache.Store, job *resolvedJob, dir string, k KeepOptions) (string, error) {
	var rc *resolvedContainer
	for i := range job.Containers {
		if job.Containers[i].Name == k.Container {
			rc = &job.Containers[i]
		}
	}
	if rc == nil || !rc.KeepRoot || rc.Image == "" {
		return "", fmt.Errorf("container %q of the job has no kept root", k.Container)
	}
	stage, err := s.NewStaging("kept")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	if err := kept.MoveDir(filepath.Join(dir, rc.Name, "upper"), filepath.Join(stage, "root")); err != nil {
		return "", err
	}
	if err := kept.MoveDir(k.Workspace, filepath.Join(stage, "ws")); err != nil {
		return "", err
	}
	rec := &kept.Record{Schema: kept.Schema, RunID: job.Spec.Name, Step: k.Step, Created: time.Now().UTC(),
		Image: rc.Image, ImageDigest: rc.Digest, ImageLayers: rc.Layers,
		Env: executor.ContainerEnv(rc.Config, rc.Env...), Dir: cmp.Or(k.Dir, rc.Dir, executor.ImageWorkdir(rc.Config)),
		User: rc.User, Network: string(isolation.NetworkHost), Limits: job.Spec.Limits,
		ExitCode: k.ExitCode, Error: k.Error, Workspace: k.Target}
	if job.Spec.Network == "private" {
		rec.Network = string(isolation.NetworkNone)
	}
	return kept.Publish(s, stage, job.Spec.Name, rec)
}
