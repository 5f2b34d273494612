package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"sort"

	"golang.org/x/sync/errgroup"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/executor/workspace"
)

// maxParallelPulls bounds the image pulls at the start of a run.
const maxParallelPulls = 4

// prepare does what must succeed before any step runs: a lease on the store,
// the run log, the images of the selected steps and their services, and the
// hashes of the workspace's files (the snapshot itself is made on the first
// cache miss).
func (r *run) prepare(ctx context.Context) error {
	// The scan reads only the checkout and its hash cache, so it runs while
	// the lease, the run log and the images are taken (on a warm run of
	// this repo each side is 1-2 ms). A failure of either is reported, the
	// store's first.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	scanned := make(chan error, 1)
	go func() { scanned <- r.scan(sctx) }()
	if err := r.prepareStore(ctx); err != nil {
		cancel()
		<-scanned
		return err
	}
	return <-scanned
}

// prepareStore takes the store's lease, opens the run log and makes the
// images available.
func (r *run) prepareStore(ctx context.Context) error {
	lease, err := r.o.Store.Lease(ctx)
	if err != nil {
		return fmt.Errorf("store %s: lease: %w", r.o.Store.Root(), err)
	}
	r.lease = lease
	r.cleanup = append(r.cleanup, lease.Release)
	if r.runLog, err = runlog.New(r.o.Store.RunsDir(), r.id, r.o.KeepRuns); err != nil {
		return fmt.Errorf("run log: %w", err)
	}
	r.cleanup = append(r.cleanup, func() { r.runLog.Close() })
	return r.pullImages(ctx)
}

// imageRefs lists the images the selected steps and their services use.
func (r *run) imageRefs() ([]string, error) {
	set := map[string]bool{}
	for _, s := range r.steps {
		if s.Image == "" {
			return nil, fmt.Errorf("%s: step %s has no image: set image: on the step or at the top of the file", s.Pos, s.Name)
		}
		set[s.Image] = true
		for _, svc := range s.Services {
			if svc.Image == "" {
				return nil, fmt.Errorf("%s: service %s has no image", svc.Pos, svc.Name)
			}
			set[svc.Image] = true
		}
	}
	refs := make([]string, 0, len(set))
	for ref := range set {
		refs = append(refs, ref)
	}
	sort.Strings(refs)
	return refs, nil
}

// pullImages makes every image available, a few at a time.
func (r *run) pullImages(ctx context.Context) error {
	refs, err := r.imageRefs()
	if err != nil {
		return err
	}
	images := make([]*cache.Image, len(refs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxParallelPulls)
	for i, ref := range refs {
		g.Go(func() error {
			img, err := r.o.Store.Pull(gctx, ref, cache.PullOptions{Policy: r.o.Pull, Progress: r.o.PullProgress})
			if err != nil {
				return fmt.Errorf("image %s: %w", ref, err)
			}
			images[i] = img
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	r.images = make(map[string]*cache.Image, len(refs))
	for i, ref := range refs {
		r.images[ref] = images[i]
		r.noteImage(images[i]) // leased before the first container: see holdUses
	}
	return nil
}

// scan hashes the checkout's files for the step keys (see Scan): no
// snapshot yet. The snapshot is made by the first step that misses the cache
// (ensureSnapshot), so a run that is all cache hits makes none.
func (r *run) scan(ctx context.Context) error {
	repo := r.o.Repo
	if repo == "" {
		repo = "."
	}
	abs, err := filepath.Abs(repo)
	if err != nil {
		return fmt.Errorf("workspace %s: %w", repo, err)
	}
	ws, err := workspace.Scan(ctx, abs, hashCachePath(r.o.Store, abs))
	if err != nil {
		return fmt.Errorf("workspace of %s: %w", abs, err)
	}
	r.snap.keys.Store(ws)
	return nil
}

// startNotes are what the user is told when the run starts: secrets too
// short to be masked (by name, never by value) and how the workspace was
// read.
func (r *run) startNotes() []string {
	names := make([]string, 0, len(r.o.Secrets))
	for name := range r.o.Secrets {
		names = append(names, name)
	}
	sort.Strings(names)
	var notes []string
	for _, name := range names {
		if len(runlog.NewMasker([]string{r.o.Secrets[name]}).Warnings()) > 0 {
			notes = append(notes, fmt.Sprintf("warning: secret %s is shorter than %d bytes: it is not masked in logs", name, runlog.MinSecretLen))
		}
	}
	if ws := r.snap.keys.Load(); ws != nil {
		notes = append(notes, ws.Notes()...)
	}
	return notes
}

// notePipe emits each note as a run-level pipe line (a step_log without a
// step), each note once per run.
func (r *run) notePipe(notes ...string) {
	for _, n := range notes {
		r.snap.leaseMu.Lock()
		seen := r.snap.noted[n]
		if r.snap.noted == nil {
			r.snap.noted = map[string]bool{}
		}
		r.snap.noted[n] = true
		r.snap.leaseMu.Unlock()
		if !seen {
			r.emit(runlog.Event{Type: runlog.EventStepLog, Stream: runlog.StreamPipe, Line: n})
		}
	}
}

// hashCachePath is where the stat-based file hashes of a checkout are kept
// between runs: one file per checkout path, in the store.
func hashCachePath(s *cache.Store, repo string) string {
	sum := sha256.Sum256([]byte(repo))
	return filepath.Join(s.WorkspacesDir(), hex.EncodeToString(sum[:8])+".hashes")
}
