package workspace

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Workspace is a snapshot of a repo: the files git would commit, as a tree
// at Dir that shares its files' data with the repo, and the content hash of
// every file. A step's /workspace is an overlay with the snapshot as its
// lowest lower dir; overlay lower dirs are read-only and a step's writes are
// copied up into its upper dir, so although the snapshot's files are hard
// links to the user's checkout (same inode), the checkout is never changed by
// a step. The reverse is not true: a program that rewrites a checkout file in
// place (same inode) while a step runs changes what the step sees; editors
// and git replace files (new inode) and do not.
//
// A Workspace is immutable once Snapshot returns and safe for concurrent use.
type Workspace struct {
	dir      string
	files    []wsFile // sorted by path
	notes    []string
	rehashed int // files read to hash them (the others came from the hash cache)

	repo    string      // the checkout, absolute
	ign     *ignoreList // its .pipeignore, for directories Place must walk
	scanned time.Time   // when listing started: hashes of files modified since are not reused by Place

	digestMu sync.Mutex
	digests  map[string]string // Digest results by their globs, joined by NUL

	linesOnce sync.Once
	lines     []byte // every file's digest line (digestLines)
	lineEnds  []int  // where each file's line ends in lines

	hitsMu sync.Mutex
	hits   map[string][]bool // per input glob, the files it matches (globHits)
	plain  []bool            // per file, whether a glob's token walk takes its path
}

// wsFile is one file of a snapshot.
type wsFile struct {
	path      string // slash-separated, relative to the repo
	symlink   bool
	exec      bool     // any execute bit: the only mode bit in a digest (as in git)
	sum       [32]byte // sha256 of the content, or of the link target
	stat      statKey
	cacheable bool // the hash is known good for stat (goes to the hash cache)
	hashed    bool // the content was read to hash it (not from the cache)
}

// Snapshot makes the workspace of a run: what git would commit in repo —
// tracked files and untracked files git does not ignore (`git ls-files
// --cached --others --exclude-standard`), minus tracked files deleted from the
// work tree, minus what repo/.pipeignore excludes (gitignore syntax, see
// ignoreList) — as a tree at dst, which must not exist or be empty. Outside a
// git work tree (or without git installed) it takes every file under repo
// except .git, minus .pipeignore. Submodules and nested repos are taken whole
// (their files, not their .git). .git itself is never in a snapshot.
//
// No file data is copied: files are hard-linked into dst. If dst is on
// another filesystem (EXDEV), files are reflinked (FICLONE) where the
// filesystem can, else copied; Notes says so. Symlinks stay symlinks (their
// targets are not followed); file modes and, when pipe runs as root, owners
// are kept; directories get their source's mode and owner. Sockets, FIFOs and
// devices are left out.
//
// Every file is hashed (sha256, in parallel on GOMAXPROCS workers). hashCache
// names a file (created if missing; "" for none) that keeps hashes between
// runs keyed by path, size, mtime, inode and mode, like git's index; only
// changed and racily clean files are read again. It is written atomically.
// Next to it (hashCache + ".listing") pipe keeps git's listing, reused while
// nothing it depends on changes, so that a run in which no file was added,
// removed or renamed starts no git process (see listing).
func Snapshot(ctx context.Context, repo, dst, hashCache string) (*Workspace, error) {
	repo, err := filepath.Abs(repo)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", repo, err)
	}
	created, err := prepareSnapshotDir(dst)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", repo, err)
	}
	w, err := snapshot(ctx, repo, dst, hashCache)
	if err != nil {
		if created {
			os.RemoveAll(dst)
		}
		return nil, fmt.Errorf("snapshot %s into %s: %w", repo, dst, err)
	}
	return w, nil
}

// Scan hashes the files Snapshot would take from repo, without making a
// snapshot: the result's Digest and Files work, its Dir is "". It costs a
// listing and a stat per file when hashCache is warm, so a run can compute
// every step key and make a snapshot only when some step misses the cache.
func Scan(ctx context.Context, repo, hashCache string) (*Workspace, error) {
	repo, err := filepath.Abs(repo)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", repo, err)
	}
	w, err := snapshot(ctx, repo, "", hashCache)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", repo, err)
	}
	return w, nil
}

// snapshot lists, places (unless dst is "") and hashes the files of repo.
func snapshot(ctx context.Context, repo, dst, hashCache string) (*Workspace, error) {
	ign, err := loadPipeIgnore(repo)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	paths, keepListing, err := listFiles(ctx, repo, ign, listingPath(hashCache))
	defer keepListing() // finishes while the files are hashed
	if err != nil {
		return nil, err
	}
	s := newSnapshotter(repo, dst, loadHashCache(hashCache))
	files, err := s.placeAll(ctx, paths, ign)
	if err != nil {
		return nil, err
	}
	w := s.workspace(files, ign, start)
	if err := s.cache.save(files); err != nil {
		w.notes = append(w.notes, err.Error()+" (hashes are recomputed next run)")
	}
	return w, nil
}

// workspace makes the Workspace of files placed (or scanned) by s.
func (s *snapshotter) workspace(files []wsFile, ign *ignoreList, start time.Time) *Workspace {
	return &Workspace{dir: s.dst, files: files, notes: s.notes(), rehashed: int(s.rehashed.Load()),
		repo: s.repo, ign: ign, scanned: start}
}

// Place makes at dst (which must not exist or be empty) the snapshot of
// the files w lists, as Snapshot does, without listing them again (git is
// not run). It returns the snapshot as a new Workspace: the content hashes
// of w are reused for files whose stat has not changed since w was made;
// files changed since are hashed again, so the new Workspace's digests
// describe what the snapshot holds, which may differ from w's. Place on a
// snapshot (Dir not "") makes another one the same way.
func (w *Workspace) Place(ctx context.Context, dst string) (*Workspace, error) {
	created, err := prepareSnapshotDir(dst)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", w.repo, err)
	}
	start := time.Now()
	s := newSnapshotter(w.repo, dst, w.asHashCache())
	paths := make([]string, len(w.files))
	for i := range w.files {
		paths[i] = w.files[i].path
	}
	files, err := s.placeAll(ctx, paths, w.ign)
	if err != nil {
		if created {
			os.RemoveAll(dst)
		}
		return nil, fmt.Errorf("snapshot %s into %s: %w", w.repo, dst, err)
	}
	return s.workspace(files, w.ign, start), nil
}

// asHashCache is an in-memory hash cache of w's files (never saved), valid
// for files last modified before the second in which w's listing started
// (whose hash is known to match their stat).
func (w *Workspace) asHashCache() *hashCache {
	c := &hashCache{entries: make([]cachedHash, 0, len(w.files)), written: w.scanned}
	for _, f := range w.files { // sorted by path
		if f.cacheable {
			c.entries = append(c.entries, cachedHash{path: f.path, stat: f.stat, sum: f.sum})
		}
	}
	return c
}

// SameFiles reports whether w and o hold the same files with the same
// content and modes: then every Digest of one equals that of the other.
func (w *Workspace) SameFiles(o *Workspace) bool {
	if len(w.files) != len(o.files) {
		return false
	}
	for i := range w.files {
		a, b := &w.files[i], &o.files[i]
		if a.path != b.path || a.sum != b.sum || a.kind() != b.kind() {
			return false
		}
	}
	return true
}

// prepareSnapshotDir makes sure dst exists and is empty.
func prepareSnapshotDir(dst string) (created bool, err error) {
	err = os.Mkdir(dst, 0o755)
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return false, err
	}
	ents, err := os.ReadDir(dst)
	if err != nil {
		return false, err
	}
	if len(ents) > 0 {
		return false, fmt.Errorf("%s is not empty: a snapshot needs an empty or missing directory", dst)
	}
	return false, nil
}

// Dir returns the snapshot's directory: the lowest lower dir of every
// step's /workspace overlay.
func (w *Workspace) Dir() string { return w.dir }

// Notes returns what the caller should tell the user about how the snapshot
// was made: files copied instead of linked (dst on another filesystem),
// special files left out, a hash cache that could not be written.
func (w *Workspace) Notes() []string { return append([]string(nil), w.notes...) }

// Len returns the number of files (and symlinks) in the snapshot.
func (w *Workspace) Len() int { return len(w.files) }

// Digest returns the digest ("sha256:<hex>") of the files the globs select,
// or of all files when globs is empty. It covers each file's path, whether it
// is a symlink, its execute bit (the only mode bit git keeps, so a umask
// difference between a laptop and CI does not change keys) and the sha256 of
// its content (of its target for a symlink). See Files for the glob syntax.
// A selection that matches no file has the digest of the empty set.
func (w *Workspace) Digest(globs []string) (string, error) {
	memo := strings.Join(globs, "\x00")
	w.digestMu.Lock()
	d, ok := w.digests[memo]
	w.digestMu.Unlock()
	if ok {
		return d, nil
	}
	d, err := w.digest(globs)
	if err != nil {
		return "", err
	}
	w.digestMu.Lock()
	if w.digests == nil {
		w.digests = map[string]string{}
	}
	w.digests[memo] = d
	w.digestMu.Unlock()
	return d, nil
}

// digest computes Digest.
func (w *Workspace) digest(globs []string) (string, error) {
	sel, err := newSelector(globs)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	io.WriteString(h, "pipe.inputs/v1\n")
	lines, ends := w.digestLines()
	in := w.selected(sel)
	// The selected lines go to the hash in runs as long as they lie next
	// to one another, not one small Write per file.
	from, to := 0, 0
	for i := range w.files {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		if !in[i] {
			continue
		}
		if start != to {
			h.Write(lines[from:to])
			from = start
		}
		to = ends[i]
	}
	h.Write(lines[from:to])
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// digestLines returns every file's digest line (appendDigestLine), one
// after another, and where each ends; made once, for the first digest.
func (w *Workspace) digestLines() ([]byte, []int) {
	w.linesOnce.Do(func() {
		n := 0
		for i := range w.files {
			n += len(w.files[i].path) + 90 // kind, hex sum, length, separators
		}
		w.lines, w.lineEnds = make([]byte, 0, n), make([]int, len(w.files))
		for i := range w.files {
			w.lines = w.files[i].appendDigestLine(w.lines)
			w.lineEnds[i] = len(w.lines)
		}
	})
	return w.lines, w.lineEnds
}

// appendDigestLine appends the file's line of a digest to b:
// "<kind> <hex sum> <len(path)>:<path>\n".
func (f *wsFile) appendDigestLine(b []byte) []byte {
	b = append(b, f.kind()...)
	b = append(b, ' ')
	b = hex.AppendEncode(b, f.sum[:])
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(f.path)), 10)
	b = append(b, ':')
	b = append(b, f.path...)
	return append(b, '\n')
}

// Files returns the paths the globs select, sorted (all when globs is empty).
// Globs are slash-separated and anchored at the repo root: "*", "?" and
// "[...]" match within one path element, "**" any number of elements; a glob
// that matches a directory selects every file under it; a glob starting
// with "!" deselects what it matches (the last matching glob wins, as in
// .gitignore). Use it to warn about a step's `inputs:` that match nothing.
func (w *Workspace) Files(globs []string) ([]string, error) {
	sel, err := newSelector(globs)
	if err != nil {
		return nil, err
	}
	var out []string
	in := w.selected(sel)
	for i := range w.files {
		if in[i] {
			out = append(out, w.files[i].path)
		}
	}
	return out, nil
}

// kind is a file's type and mode as written in a digest.
func (f *wsFile) kind() string {
	switch {
	case f.symlink:
		return "link"
	case f.exec:
		return "exec"
	}
	return "file"
}

// sortWsFiles sorts files by path.
func sortWsFiles(files []wsFile) {
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
}

// workers is how many files are placed and hashed at once.
func hashWorkers() int { return max(2, runtime.GOMAXPROCS(0)) }

// forEachFile runs fn(i) for i in [0,n) on workers goroutines; the first error
// (or ctx's) stops the rest.
func forEachFile(ctx context.Context, n int, fn func(i int, buf *copyBuf) error) error {
	var (
		mu    sync.Mutex
		next  int
		first error
		wg    sync.WaitGroup
	)
	for range min(hashWorkers(), n) {
		wg.Go(func() {
			buf := &copyBuf{}
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil || i >= n
				mu.Unlock()
				if stop {
					return
				}
				err := ctx.Err()
				if err == nil {
					err = fn(i, buf)
				}
				if err != nil {
					mu.Lock()
					first = firstErr(first, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}

// copyBuf is a worker's buffer for reading files to hash them, made on
// first use: a warm scan reads none, and two 128 KiB buffers it never
// touches would still cost their page faults.
type copyBuf struct{ b []byte }

// bytes returns the buffer, made if needed.
func (c *copyBuf) bytes() []byte {
	if c.b == nil {
		c.b = make([]byte, 128<<10)
	}
	return c.b
}

// cmp keeps the first non-nil error.
func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
