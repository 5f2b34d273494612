package executor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/isolation"
	"github.com/pipe-run/pipe/pipeline"
)

// debugKept reopens (or exports) the newest kept failure, of step when it is
// not "".
func debugKept(ctx context.Context, step string, o DebugOptions) (int, error) {
	rec, err := lastKept(o.Store, step)
	if err != nil {
		return 0, err
	}
	lease, err := o.Store.Lease(ctx)
	if err != nil {
		return 0, fmt.Errorf("store %s: lease: %w", o.Store.Root(), err)
	}
	defer lease.Release()
	if err := lease.Add(append([]string{rec.ImageDigest}, rec.serviceDigests()...)...); err != nil {
		return 0, fmt.Errorf("store lease: %w", err)
	}
	if err := rec.checkLayers(); err != nil {
		return 0, err
	}
	if o.Export != "" {
		return 0, exportKept(ctx, o.Store, rec, o.Export)
	}
	return reopenKept(ctx, rec, o)
}

// checkLayers fails when the layers of the step's or a service's image
// were pruned since.
func (rec *KeptRecord) checkLayers() error {
	if err := rec.checkImage(rec.Image, rec.ImageLayers); err != nil {
		return err
	}
	for _, ks := range rec.Services {
		if err := rec.checkImage(ks.Image, ks.ImageLayers); err != nil {
			return fmt.Errorf("service %s: %w", ks.Name, err)
		}
	}
	return nil
}

// checkImage fails when a layer of image is gone from the store.
func (rec *KeptRecord) checkImage(image string, layers []string) error {
	for _, l := range layers {
		if _, err := os.Stat(l); err != nil {
			return fmt.Errorf("kept failure of step %s (run %s): layer %s of image %s is gone from the store (pruned?): pull %s again: %w",
				rec.Step, rec.RunID, filepath.Base(l), image, image, err)
		}
	}
	return nil
}

// reopenKept recreates the failed container from the kept layers, starts
// the step's services again in a network namespace it joins, and opens the
// shell in it. The main process does nothing; the shell is Exec'd. The
// container, then the services and their namespace, go when the shell exits.
func reopenKept(ctx context.Context, rec *KeptRecord, o DebugOptions) (int, error) {
	r := &run{o: o.Options, id: runlog.NewID(time.Now()), masker: runlog.NewMasker(nil)}
	log := runlog.NewStepLog(rec.Step, r.masker, nil, nil)
	defer log.Close()
	volumes, release, err := r.acquireVolumes(ctx, rec.Caches, log)
	if err != nil {
		return 0, err
	}
	defer release()
	spec := rec.spec(r.containerID(&pipeline.Step{Name: rec.Step}, 1, "-last"), volumes, o.LookupSecret)
	svcs, err := r.startKeptServices(ctx, rec, spec, log)
	defer svcs.stop()
	if err != nil {
		return 0, err
	}
	c, err := o.Runtime.Start(ctx, spec)
	if err != nil {
		return 0, fmt.Errorf("step %s: recreate its kept container: %w", rec.Step, err)
	}
	defer c.Destroy()
	if _, err := c.Wait(); err != nil {
		return 0, fmt.Errorf("step %s: kept container: %w", rec.Step, err)
	}
	sh := &DebugShell{Step: rec.Step, ExitCode: rec.ExitCode, Status: rec.status()}
	if _, err := runShell(ctx, c, spec.Process, sh, &o); err != nil {
		return 0, err
	}
	return rec.ExitCode, nil
}

// status is the prompt's account of the kept failure.
func (rec *KeptRecord) status() string {
	what := "its script"
	if rec.Command > 0 {
		what = quoteCommand(rec.CommandText)
	}
	return fmt.Sprintf("%s exited %d, kept from run %s", what, rec.ExitCode, rec.RunID)
}

// spec is the container of the kept state: image layers then root/ for /,
// lower/* then ws/ for /workspace, fresh upper dirs for both, secrets taken
// from lookup again.
func (rec *KeptRecord) spec(id string, volumes []isolation.Mount, lookup func(string) (string, bool)) *isolation.Spec {
	lowers := make([]string, 0, rec.Lowers+1)
	for i := 0; i < rec.Lowers; i++ {
		lowers = append(lowers, filepath.Join(rec.dir, "lower", strconv.Itoa(i)))
	}
	lowers = append(lowers, filepath.Join(rec.dir, "ws"))
	ws := isolation.Mount{Type: isolation.MountOverlay, Target: firstNonEmpty(rec.Workspace, pipeline.Workspace), Overlay: isolation.Overlay{Lower: lowers}}
	env := append([]string(nil), rec.Env...)
	for _, name := range rec.Secrets {
		if lookup == nil {
			break
		}
		if v, ok := lookup(name); ok {
			env = append(env, name+"="+v)
		}
	}
	spec := &isolation.Spec{
		ID:        id,
		Root:      isolation.Overlay{Lower: append(append([]string(nil), rec.ImageLayers...), filepath.Join(rec.dir, "root"))},
		Mounts:    append([]isolation.Mount{ws}, volumes...),
		Process:   isolation.Process{Args: []string{pipeline.Shell, "-c", ":"}, Env: DedupEnv(env), Dir: rec.Dir, User: rec.User},
		KeepAlive: true,
		Hosts:     rec.Hosts,
		Network:   isolation.Network{Mode: isolation.NetworkMode(rec.Network)},
		Limits:    rec.Limits,
	}
	if spec.Network.Mode != isolation.NetworkHost {
		spec.Network.Mode = isolation.NetworkNone
	}
	return spec
}
