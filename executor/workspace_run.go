package executor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/workspace"
)

// snapshotState is the workspace of one run: a Scan made before any step,
// whose hashes give every step key, and the snapshot (the lowest lower dir
// of every /workspace) made from it by the first step that misses the cache,
// once, and shared by every step that runs a container. A run that is all
// cache hits makes no snapshot: no hard-link tree, no staging dir.
//
// Files can change between the scan and the snapshot. The snapshot's hashes
// are what its steps see; when they differ from the scan's, they become the
// run's key workspace, and a step whose key came from the scan computes it
// again before it runs (ensureSnapshot), so no result is ever stored under
// a key that describes other files.
type snapshotState struct {
	keys atomic.Pointer[workspace.Workspace] // what step keys are computed from

	mu    sync.Mutex
	made  *workspace.Workspace // the snapshot, once made
	count int                  // snapshots made (tests: an all-hit run makes none)

	leaseMu sync.Mutex      // guards pending and noted
	pending []leaseItem     // images and cache hits not yet in the run's lease
	noted   map[string]bool // notes told the user already (notePipe)
}

// leaseItem is something the run uses, waiting for the run's lease.
type leaseItem struct {
	what string   // for errors: "step NAME" or "image REF"
	ids  []string // for Lease.Add
	dirs []string // what must still exist once leased
}

// ensureSnapshot makes sure the snapshot exists before st runs a container,
// recomputes st's key when the snapshot's files differ from those its key
// was computed from, and puts every image and cache hit noted so far into
// the run's lease (see holdUses). On return r.ws is the snapshot.
func (r *run) ensureSnapshot(ctx context.Context, st *stepState) error {
	if err := r.holdUses(); err != nil {
		return err
	}
	if _, err := r.snapshotOnce(ctx); err != nil {
		return err
	}
	if st.keyWS != nil && st.keyWS != r.snap.keys.Load() {
		return r.computeKey(st)
	}
	return nil
}

// snapshotOnce makes the run's snapshot from its scan, on first use.
func (r *run) snapshotOnce(ctx context.Context) (*workspace.Workspace, error) {
	r.snap.mu.Lock()
	defer r.snap.mu.Unlock()
	if r.snap.made != nil {
		return r.snap.made, nil
	}
	scan := r.snap.keys.Load()
	dir, err := r.o.Store.NewStaging("snapshot")
	if err != nil {
		return nil, fmt.Errorf("workspace snapshot: %w", err)
	}
	ws, err := scan.Place(ctx, filepath.Join(dir, "ws"))
	if err != nil {
		r.o.Store.RemoveStaging(dir)
		return nil, fmt.Errorf("workspace snapshot: %w", err)
	}
	r.addCleanup(func() { r.o.Store.RemoveStaging(dir) })
	if !ws.SameFiles(scan) {
		r.snap.keys.Store(ws)
	}
	r.snap.made, r.snap.count = ws, r.snap.count+1
	r.ws = ws
	r.notePipe(ws.Notes()...) // e.g. files copied: the store is on another filesystem
	return ws, nil
}

// snapshotsMade returns how many snapshots the run made.
func (r *run) snapshotsMade() int {
	r.snap.mu.Lock()
	defer r.snap.mu.Unlock()
	return r.snap.count
}

// noteHit records the result key of a cache hit for the run's lease. A hit
// uses nothing until a step that needs it mounts its layer, so the lease
// (a file written and synced on every change) is extended once, before the
// first container, rather than once per hit.
func (r *run) noteHit(step, key, layer string) {
	it := leaseItem{what: "step " + step + ": its cached result", ids: []string{key}}
	if layer != "" {
		it.dirs = []string{layer}
	}
	r.noteUse(it)
}

// noteImage records an image for the run's lease, like noteHit: its
// manifest (which keeps its config and layers) and its layers.
func (r *run) noteImage(img *cache.Image) {
	it := leaseItem{what: "image " + img.Ref, ids: []string{img.Digest.String()}, dirs: img.Layers}
	if img.Config != nil {
		for _, d := range img.Config.RootFS.DiffIDs {
			it.ids = append(it.ids, d.String())
		}
	}
	r.noteUse(it)
}

func (r *run) noteUse(it leaseItem) {
	r.snap.leaseMu.Lock()
	r.snap.pending = append(r.snap.pending, it)
	r.snap.leaseMu.Unlock()
}

// holdUses adds what the run noted it uses (images, cache hits) to the
// run's lease, then checks that their dirs are still there: a prune between
// the lookup and the lease may have removed them.
func (r *run) holdUses() error {
	r.snap.leaseMu.Lock()
	defer r.snap.leaseMu.Unlock()
	if len(r.snap.pending) == 0 {
		return nil
	}
	var ids []string
	for _, it := range r.snap.pending {
		ids = append(ids, it.ids...)
	}
	if err := r.lease.Add(ids...); err != nil {
		return fmt.Errorf("store lease: %w", err)
	}
	held := r.snap.pending
	r.snap.pending = nil
	for _, it := range held {
		for _, d := range it.dirs {
			if _, err := os.Stat(d); err != nil {
				return fmt.Errorf("%s was removed from the store while this run used it (pipe cache prune?): run again: %w", it.what, err)
			}
		}
	}
	return nil
}
