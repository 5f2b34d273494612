package executor

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/isolation"
	"github.com/pipe-run/pipe/pipeline"
)

// Named cache volumes (`caches:`) keep a directory between runs, e.g. a Go
// module cache or a package manager's downloads, and are bind-mounted
// read-write at their path in the steps that name them.
//
// The rule: by default (sharing: locked) a step holds each of its volumes
// EXCLUSIVELY while it runs (cache.Store.Volume's lock, which also holds
// across pipe processes). A second step that names the same volume waits, and
// its log says "waiting for cache volume X". Tools that keep such caches (npm,
// pip, cargo) are not all safe with two writers at once. A volume declared
// with sharing: shared (go's build and module caches, which go keeps safe for
// concurrent use) is mounted by any number of steps at once; it still waits
// for an exclusive holder such as `pipe cache prune`. A step takes its volumes
// in name order, so two steps never wait on each other (no deadlock).
//
// A volume is not part of a step's output layer and not in its key, except by
// name: what a step leaves in it is a cache, never a result.

// volumeWaitNote is how long a step waits for a volume before its log says so.
const volumeWaitNote = 200 * time.Millisecond

// acquireVolumes locks the step's cache volumes and returns their mounts and
// a release func (always non-nil, to call after the container is destroyed).
func (r *run) acquireVolumes(ctx context.Context, caches []pipeline.Cache, log *runlog.StepLog) ([]isolation.Mount, func(), error) {
	sorted := append([]pipeline.Cache(nil), caches...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var releases []func()
	releaseAll := func() {
		for i := len(releases) - 1; i >= 0; i-- {
			releases[i]()
		}
	}
	mounts := make([]isolation.Mount, 0, len(sorted))
	for i, c := range sorted {
		if i > 0 && sorted[i-1].Name == c.Name {
			mounts = append(mounts, isolation.Mount{Type: isolation.MountBind, Source: mounts[len(mounts)-1].Source, Target: c.Path})
			continue
		}
		dir, release, err := r.volume(ctx, c, log)
		if err != nil {
			releaseAll()
			return nil, func() {}, err
		}
		releases = append(releases, release)
		mounts = append(mounts, isolation.Mount{Type: isolation.MountBind, Source: dir, Target: c.Path})
	}
	return mounts, releaseAll, nil
}

// volume takes one volume, saying so in the log when it has to wait.
func (r *run) volume(ctx context.Context, c pipeline.Cache, log *runlog.StepLog) (string, func(), error) {
	t := time.AfterFunc(volumeWaitNote, func() {
		log.Note("waiting for cache volume %s (another step or pipe process is using it)", c.Name)
	})
	take := r.o.Store.Volume
	if c.Sharing == pipeline.SharingShared {
		take = r.o.Store.SharedVolume
	}
	dir, release, err := take(ctx, c.Name)
	t.Stop()
	if err != nil {
		return "", nil, fmt.Errorf("cache volume %s: %w", c.Name, err)
	}
	return dir, release, nil
}
