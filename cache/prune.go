package cache

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// PruneOptions say what Prune removes besides what nothing uses.
type PruneOptions struct {
	OlderThan time.Duration // remove results not used for this long; 0 keeps results
	All       bool          // remove every image, result and volume no live run uses, and the workspace hash caches
}

// Pruned is one removed entry.
type Pruned struct {
	Kind  string `json:"kind"` // image, layer, blob, result, volume, workspace
	ID    string `json:"id"`
	Bytes int64  `json:"bytes"`
}

// PruneReport lists what Prune removed.
type PruneReport struct {
	Removed []Pruned `json:"removed"`
	Bytes   int64    `json:"bytes"`
}

func (r *PruneReport) add(kind, id string, n int64) {
	r.Removed = append(r.Removed, Pruned{Kind: kind, ID: id, Bytes: n})
	r.Bytes += n
}

// Prune removes layers and blobs no stored image uses, results unused for
// o.OlderThan, with o.All every image, result and free volume, and the
// leftovers of dead processes. What a live Lease holds is always kept. Prune
// waits for pulls and commits in progress, and they wait for it.
func (s *Store) Prune(ctx context.Context, o PruneOptions) (PruneReport, error) {
	var rep PruneReport
	gc, err := lockFile(ctx, s.lockPath("gc"), true)
	if err != nil {
		return rep, fmt.Errorf("prune: %w", err)
	}
	defer gc.Unlock()
	if err := s.prune(ctx, o, &rep); err != nil {
		return rep, fmt.Errorf("prune: %w", err)
	}
	return rep, nil
}

func (s *Store) prune(ctx context.Context, o PruneOptions, rep *PruneReport) error {
	leased, err := s.liveLeases()
	if err != nil {
		return err
	}
	if err := s.cleanTmp(); err != nil {
		return err
	}
	recs, err := s.pruneImages(o, leased, rep)
	if err != nil {
		return err
	}
	keep := s.keepSet(recs, leased)
	steps := []func() error{
		func() error { return s.pruneDir(ctx, layersDir, "layer", keep, rep) },
		func() error { return s.pruneDir(ctx, blobsDir, "blob", keep, rep) },
		func() error { return s.pruneResults(ctx, o, leased, rep) },
		func() error { return s.pruneVolumes(ctx, o, rep) },
		func() error { return s.pruneWorkspaces(ctx, o, rep) },
	}
	for _, f := range steps {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// pruneImages removes image records with All, keeping leased ones, and
// returns the records that stay.
func (s *Store) pruneImages(o PruneOptions, leased map[string]bool, rep *PruneReport) ([]*imageRecord, error) {
	recs, err := s.records()
	if err != nil || !o.All {
		return recs, err
	}
	var kept []*imageRecord
	for _, r := range recs {
		if leased[r.Digest.String()] {
			kept = append(kept, r)
			continue
		}
		if err := os.Remove(s.recordPath(r.Ref, r.Platform)); err != nil && !os.IsNotExist(err) {
			return nil, err
		}
		rep.add("image", r.Ref, 0)
	}
	return kept, nil
}

// keepSet is every digest (blob or diffID) used by a kept image or a lease.
func (s *Store) keepSet(recs []*imageRecord, leased map[string]bool) map[string]bool {
	keep := map[string]bool{}
	for id := range leased {
		keep[id] = true
		if h, err := v1.NewHash(id); err == nil {
			s.expandManifest(h, keep)
		}
	}
	for _, r := range recs {
		for _, id := range r.ids() {
			keep[id] = true
		}
	}
	return keep
}

// expandManifest adds the config and layers of a stored manifest (or of every
// manifest of a stored index) to keep.
func (s *Store) expandManifest(h v1.Hash, keep map[string]bool) {
	raw, err := s.readBlob(h)
	if err != nil {
		return
	}
	if idx, err := v1.ParseIndexManifest(bytes.NewReader(raw)); err == nil && idx.MediaType.IsIndex() {
		for _, d := range idx.Manifests {
			keep[d.Digest.String()] = true
			s.expandManifest(d.Digest, keep)
		}
		return
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil || m.Config.Digest.Hex == "" {
		return
	}
	keep[m.Config.Digest.String()] = true
	cfg, err := s.readBlob(m.Config.Digest)
	if err != nil {
		return
	}
	if cf, err := v1.ParseConfigFile(bytes.NewReader(cfg)); err == nil {
		for _, d := range cf.RootFS.DiffIDs {
			keep[d.String()] = true
		}
	}
}

// pruneDir removes the entries of a by-digest dir that keep lacks.
func (s *Store) pruneDir(ctx context.Context, dir, kind string, keep map[string]bool, rep *PruneReport) error {
	ents, err := os.ReadDir(s.path(dir))
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		id := "sha256:" + e.Name()
		if keep[id] {
			continue
		}
		p := s.path(dir, e.Name())
		n := sizeOf(p)
		if err := s.discard(p); err != nil {
			return err
		}
		rep.add(kind, id, n)
	}
	return nil
}

// pruneResults removes results unused for o.OlderThan (all with o.All).
func (s *Store) pruneResults(ctx context.Context, o PruneOptions, leased map[string]bool, rep *PruneReport) error {
	if !o.All && o.OlderThan <= 0 {
		return nil
	}
	ents, err := os.ReadDir(s.path(resultsDir))
	if err != nil {
		return err
	}
	cutoff := time.Now().Add(-o.OlderThan)
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		if leased[e.Name()] {
			continue
		}
		p := s.resultPath(e.Name())
		fi, err := os.Stat(filepath.Join(p, entryMeta))
		if !o.All && err == nil && fi.ModTime().After(cutoff) {
			continue
		}
		n := sizeOf(p)
		if err := s.discard(p); err != nil {
			return err
		}
		rep.add("result", e.Name(), n)
	}
	return nil
}

// pruneWorkspaces removes, with o.All, the workspace hash caches: only a
// cache, rebuilt by the next run (which hashes every file again). Files a
// run is writing (dot-named temp files) are left to it.
func (s *Store) pruneWorkspaces(ctx context.Context, o PruneOptions, rep *PruneReport) error {
	if !o.All {
		return nil
	}
	ents, err := os.ReadDir(s.path(wsDir))
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.Name()[0] == '.' {
			continue
		}
		p := s.path(wsDir, e.Name())
		n := sizeOf(p)
		if err := os.RemoveAll(p); err != nil {
			return err
		}
		rep.add("workspace", e.Name(), n)
	}
	return nil
}

// pruneVolumes removes, with o.All, the volumes no one holds.
func (s *Store) pruneVolumes(ctx context.Context, o PruneOptions, rep *PruneReport) error {
	if !o.All {
		return nil
	}
	ents, err := os.ReadDir(s.path(volumesDir))
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		l, free, err := tryLockFile(s.lockPath("volume-"+e.Name()), true)
		if err != nil || !free {
			continue
		}
		p := s.path(volumesDir, e.Name())
		n := sizeOf(p)
		err = s.discard(p)
		l.Unlock()
		if err != nil {
			return err
		}
		rep.add("volume", e.Name(), n)
	}
	return nil
}
