package cache

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KindUsage is the disk use of one kind of entry.
type KindUsage struct {
	Kind    string `json:"kind"`    // images, blobs, layers, results, volumes, runs, workspaces, tmp
	Entries int    `json:"entries"` // entries of that kind
	Bytes   int64  `json:"bytes"`   // disk use (allocated blocks; hard links counted once)
}

// Usage is the store's disk use by kind.
type Usage struct {
	Root  string      `json:"root"`
	Kinds []KindUsage `json:"kinds"`
	Bytes int64       `json:"bytes"`
}

var usageKinds = []struct{ kind, dir string }{
	{"images", imagesDir}, {"blobs", blobsDir}, {"layers", layersDir}, {"results", resultsDir},
	{"volumes", volumesDir}, {"runs", runsDir}, {"workspaces", wsDir}, {"tmp", tmpDir},
}

// Usage measures the store's disk use, by kind.
func (s *Store) Usage(ctx context.Context) (Usage, error) {
	u := Usage{Root: s.root}
	seen := map[uint64]bool{}
	for _, k := range usageKinds {
		ents, err := os.ReadDir(s.path(k.dir))
		if err != nil {
			return u, fmt.Errorf("usage: %w", err)
		}
		b, err := diskUsage(ctx, s.path(k.dir), seen)
		if err != nil {
			return u, fmt.Errorf("usage of %s: %w", k.kind, err)
		}
		u.Kinds = append(u.Kinds, KindUsage{Kind: k.kind, Entries: len(ents), Bytes: b})
		u.Bytes += b
	}
	return u, nil
}

// diskUsage sums the blocks under root, counting each inode once.
func diskUsage(ctx context.Context, root string, seen map[uint64]bool) (int64, error) {
	var total int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // removed while we walked
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == root && d.IsDir() {
			return nil // the kind's own directory is not an entry
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		ino, b := blocksOf(fi)
		if ino != 0 && seen[ino] {
			return nil
		}
		if ino != 0 {
			seen[ino] = true
		}
		total += b
		return nil
	})
	return total, err
}

// sizeOf is the disk use of one entry.
func sizeOf(p string) int64 {
	n, _ := diskUsage(context.Background(), p, map[uint64]bool{})
	return n
}
