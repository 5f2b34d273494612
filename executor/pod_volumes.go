package executor

import (
	"context"
	"fmt"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/isolation"
	"github.com/pipe-run/pipe/pipeline"
)

// Cache volumes of pod steps. This machine's volume (a dir of the store)
// stays the truth, and the step holds it for its pod's whole life, by the
// same lock as a local container (locked: one step at a time; shared: any
// number). The volume's content goes to the pod as one layer blob of the
// cache repository (content addressed: an unchanged volume is packed
// again but uploaded once), pipe-init applies it onto an emptyDir at the
// volume's path, pipe-push pushes what the step changed there as a diff,
// and the coordinator applies that diff onto the volume. Diffs of one
// volume are applied one at a time, in the order their pods end: two pods
// of a shared volume lose nothing of each other but a file both changed
// (the later wins), as with two local steps. A failed step's diff is
// applied too: a local step's writes to a volume stay whatever its exit.
//
// Nothing of a volume stays on a node, so which node a pod runs on does
// not matter to its volumes.

// podVolumes makes the content of each volume the step holds (mounts, from
// acquireVolumes) a layer blob the pod fetches.
func (r *run) podVolumes(ctx context.Context, mounts []isolation.Mount) ([]PodVolume, error) {
	r.pods.volumes.Lock() // not packed while a diff is applied onto it
	defer r.pods.volumes.Unlock()
	out := make([]PodVolume, 0, len(mounts))
	for _, m := range mounts {
		l, err := r.o.Pods.Layer(ctx, m.Source)
		if err != nil {
			return nil, fmt.Errorf("cache volume at %s: %w", m.Target, err)
		}
		out = append(out, PodVolume{Path: m.Target, Layer: l})
	}
	return out, nil
}

// applyPodVolumes applies the diffs the pod pushed of its cache volumes
// onto this machine's volumes (mounts, still held). A diff that cannot be
// fetched or applied fails the step as pipe's failure: the volume may be
// part applied, which a cache survives (its tools check what they read).
func (r *run) applyPodVolumes(ctx context.Context, res *PodResult, mounts []isolation.Mount) error {
	if len(res.Volumes) > len(mounts) {
		return fmt.Errorf("the pod reported %d cache volume diffs for %d volumes", len(res.Volumes), len(mounts))
	}
	r.pods.volumes.Lock()
	defer r.pods.volumes.Unlock()
	for i, l := range res.Volumes {
		if l == nil {
			continue
		}
		if err := r.applyPodVolume(ctx, *l, mounts[i].Source); err != nil {
			return fmt.Errorf("cache volume at %s: apply what the step changed (%s): %w", mounts[i].Target, l.Digest, err)
		}
	}
	return nil
}

// applyPodVolume fetches the diff l into a staging dir, which checks its
// digests and extracts it safely (nothing outside the dir), and then
// applies it onto the volume dir by the safe applier, whiteouts included.
func (r *run) applyPodVolume(ctx context.Context, l cache.LayerBlob, dir string) error {
	staging, err := r.o.Store.NewStaging("volume")
	if err != nil {
		return err
	}
	defer r.o.Store.RemoveStaging(staging)
	if err := r.o.Pods.Diff(ctx, l, staging); err != nil {
		return err
	}
	rc := r.o.Store.LayerTar(staging)
	err = cache.ApplyLayer(ctx, rc, dir)
	rc.Close()
	return err
}

// twiceMounted is a cache volume the step mounts at two paths, or "":
// pods cannot, the two paths would be two emptyDirs whose changes could
// not both be applied.
func twiceMounted(s *pipeline.Step) string {
	seen := map[string]bool{}
	for _, c := range s.Caches {
		if seen[c.Name] {
			return c.Name
		}
		seen[c.Name] = true
	}
	return ""
}
