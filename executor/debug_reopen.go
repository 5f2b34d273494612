package executor

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pipe-run/pipe/executor/kept"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/isolation"
	"github.com/pipe-run/pipe/pipeline"
)

// debugKept reopens (or exports) the newest kept failure, of step when it is
// not "".
func debugKept(ctx context.Context, step string, o DebugOptions) (int, error) {
	rec, err := kept.Last(o.Store, step)
	if err != nil {
		return 0, err
	}
	lease, err := o.Store.Lease(ctx)
	if err != nil {
		return 0, fmt.Errorf("store %s: lease: %w", o.Store.Root(), err)
	}
	defer lease.Release()
	if err := lease.Add(append([]string{rec.ImageDigest}, rec.ServiceDigests()...)...); err != nil {
		return 0, fmt.Errorf("store lease: %w", err)
	}
	if err := rec.CheckLayers(); err != nil {
		return 0, err
	}
	if o.Export != "" {
		return 0, kept.Export(ctx, o.Store, rec, o.Export)
	}
	return reopenKept(ctx, rec, o)
}

// reopenKept recreates the failed container from the kept layers, starts
// the step's services again in a network namespace it joins, and opens the
// shell in it. The main process does nothing; the shell is Exec'd. The
// container, then the services and their namespace, go when the shell exits.
func reopenKept(ctx context.Context, rec *kept.Record, o DebugOptions) (int, error) {
	r := &run{o: o.Options, id: runlog.NewID(time.Now()), masker: runlog.NewMasker(nil)}
	log := runlog.NewStepLog(rec.Step, r.masker, nil, nil)
	defer log.Close()
	volumes, release, err := r.acquireVolumes(ctx, rec.Caches, log)
	if err != nil {
		return 0, err
	}
	defer release()
	spec := keptSpec(rec, r.containerID(&pipeline.Step{Name: rec.Step}, 1, "-last"), volumes, o.LookupSecret)
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
	sh := &DebugShell{Step: rec.Step, ExitCode: rec.ExitCode, Status: keptStatus(rec)}
	if _, err := runShell(ctx, c, spec.Process, sh, &o); err != nil {
		return 0, err
	}
	return rec.ExitCode, nil
}

// keptStatus is the prompt's account of the kept failure.
func keptStatus(rec *kept.Record) string {
	what := "its script"
	if rec.Command > 0 {
		what = quoteCommand(rec.CommandText)
	}
	return fmt.Sprintf("%s exited %d, kept from run %s", what, rec.ExitCode, rec.RunID)
}

// keptSpec is the container of the kept state: image layers then root/ for /,
// lower/* then ws/ for /workspace, fresh upper dirs for both, secrets taken
// from lookup again.
func keptSpec(rec *kept.Record, id string, volumes []isolation.Mount, lookup func(string) (string, bool)) *isolation.Spec {
	lowers := make([]string, 0, rec.Lowers+1)
	for i := 0; i < rec.Lowers; i++ {
		lowers = append(lowers, filepath.Join(rec.Path(), "lower", strconv.Itoa(i)))
	}
	lowers = append(lowers, filepath.Join(rec.Path(), "ws"))
	ws := isolation.Mount{Type: isolation.MountOverlay, Target: rec.WorkspaceDir(), Overlay: isolation.Overlay{Lower: lowers}}
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
		Root:      isolation.Overlay{Lower: append(append([]string(nil), rec.ImageLayers...), filepath.Join(rec.Path(), "root"))},
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
