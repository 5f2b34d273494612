package cache

import (
	"fmt"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// The store's layout, relative to its root. Every directory pipe writes is
// listed here and nowhere else.
//
//	layout.json               {"version": 1}: refuses roots written by a newer layout
//	blobs/sha256/<hex>        manifests, indexes and image configs, by digest, verified
//	                          before they are kept (layer blobs are streamed into
//	                          layers/ and not kept compressed)
//	layers/sha256/<diffid>/   one extracted image layer, by uncompressed digest:
//	    fs/                   the tree in overlay form (whiteouts as 0/0 char devices,
//	                          opaque dirs by xattr): an overlay lower dir, read-only
//	    meta.json             layerMeta: compressed digest, media type, sizes
//	images/<id>.json          the image index: one imageRecord per (reference, platform),
//	                          id = sha256(ref NUL platform); ref → manifest digest,
//	                          config digest, diffIDs
//	results/<key>/            one step result, by step key
//	    fs/                   the step's output layer in overlay form
//	    meta.json             ResultMeta; its mtime is the last use
//	volumes/<name>/           a named cache volume (locked by locks/volume-<name>.lock)
//	volsync/<name>.json       what volume <name> was last restored from or pushed to a
//	                          registry as (share_volume.go); made on first use, only a cache
//	runs/                     run logs, owned by the executor
//	workspaces/<hash>.hashes  stat-based content hashes of a checkout's files, one
//	                          file per checkout path, owned by the executor; only a
//	                          cache (a missing one is rebuilt by hashing the files)
//	workspaces/<hash>.hashes.listing  git's listing of that checkout and the stat of
//	                          what it depends on (executor/workspace); only a cache
//	tmp/<pid>-<start>-<rnd>-<kind>/  staging: every write starts here; an entry whose
//	                          creating process (pid + start time) is gone is removed
//	locks/                    flock files: gc.lock (shared by writers, exclusive
//	                          by prune), layer-<diffid>.lock, volume-<name>.lock
//	leases/<pid>-<start>-<rnd>.lock  one lease per live run, flocked while the run
//	                          lives, what it uses one id per line (a .json beside
//	                          it: the list of a lease by an older pipe)
const (
	layoutFile = "layout.json"
	blobsDir   = "blobs/sha256"
	layersDir  = "layers/sha256"
	imagesDir  = "images"
	resultsDir = "results"
	volumesDir = "volumes"
	runsDir    = "runs"
	wsDir      = "workspaces"
	tmpDir     = "tmp"
	locksDir   = "locks"
	leasesDir  = "leases"

	entryFS   = "fs"        // the tree inside a layer or result entry
	entryMeta = "meta.json" // the metadata inside a layer or result entry

	layoutVersion = 1
)

// storeDirs are created by Open.
var storeDirs = []string{blobsDir, layersDir, imagesDir, resultsDir, volumesDir, runsDir, wsDir, tmpDir, locksDir, leasesDir}

// isHex64 reports whether s is 64 lowercase hex digits.
func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isStoreName reports whether s is 1-128 of [A-Za-z0-9_.-], starting with a
// letter or digit. (A regexp with {0,127} costs 0.5 ms to compile at every
// start of the binary, and the binary starts again as every container's init.)
func isStoreName(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '.' && c != '-') {
			return false
		}
	}
	return true
}

// checkDigest validates a digest before any part of it becomes a path.
func checkDigest(h v1.Hash) error {
	if h.Algorithm != "sha256" || !isHex64(h.Hex) {
		return fmt.Errorf("digest %q: want sha256 with 64 lowercase hex digits", h.String())
	}
	return nil
}

// checkName validates a result key or volume name before it becomes a path.
func checkName(kind, name string) error {
	if !isStoreName(name) || strings.Contains(name, "..") {
		return fmt.Errorf("%s name %q: use 1-128 letters, digits, '_', '.', '-', starting with a letter or digit", kind, name)
	}
	return nil
}

func (s *Store) path(elem ...string) string {
	return filepath.Join(append([]string{s.root}, elem...)...)
}

func (s *Store) blobPath(h v1.Hash) string    { return s.path(blobsDir, h.Hex) }
func (s *Store) layerPath(h v1.Hash) string   { return s.path(layersDir, h.Hex) }
func (s *Store) resultPath(key string) string { return s.path(resultsDir, key) }
func (s *Store) lockPath(name string) string  { return s.path(locksDir, name+".lock") }

// WorkspacesDir is where the executor keeps the hash caches of checkouts
// (workspaces/<hash>.hashes): counted by Usage, removed by Prune with All.
func (s *Store) WorkspacesDir() string { return s.path(wsDir) }
