package workspace

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
)

// How files get into a snapshot.
const (
	placeLink  int32 = iota // hard link: no data copied, same inode
	placeClone              // reflink: data shared copy-on-write, new inode
	placeCopy               // copy: dst on another filesystem without reflinks
)

// snapshotter places files of repo into dst and hashes them.
type snapshotter struct {
	repo, dst string
	cache     *hashCache
	root      bool // running as root: keep owners

	method   atomic.Int32 // placeLink, then placeClone or placeCopy after EXDEV
	refused  atomic.Int64 // files copied because a hard link was refused
	copied   atomic.Int64 // bytes copied
	special  atomic.Int64 // sockets, FIFOs, devices left out
	rehashed atomic.Int64 // files read to hash them

	mu   sync.Mutex
	dirs []string // directories listed as one entry (submodules, nested repos)

	dirFDs dirFDs // a scan's stats
}

func newSnapshotter(repo, dst string, c *hashCache) *snapshotter {
	return &snapshotter{repo: repo, dst: dst, cache: c, root: os.Geteuid() == 0, dirFDs: dirFDs{root: repo}}
}

// placeAll places paths, then the contents of any directory among them
// (walked, minus .git and .pipeignore), and returns the files sorted.
func (s *snapshotter) placeAll(ctx context.Context, paths []string, ign *ignoreList) ([]wsFile, error) {
	defer s.dirFDs.close()
	var all []wsFile
	for len(paths) > 0 {
		files, err := s.place(ctx, paths)
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = files // most often the only round: no copy
		} else {
			all = append(all, files...)
		}
		paths = nil
		for _, d := range s.takeDirs() {
			more, err := walkFiles(s.repo, d, ign)
			if err != nil {
				return nil, err
			}
			paths = append(paths, more...)
		}
	}
	sortWsFiles(all)
	return all, nil
}

// takeDirs returns and forgets the directories found by place.
func (s *snapshotter) takeDirs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.dirs
	s.dirs = nil
	return d
}

// place creates the parent directories of paths, then links and hashes the
// files in parallel.
func (s *snapshotter) place(ctx context.Context, paths []string) ([]wsFile, error) {
	sort.Strings(paths)
	if s.dst != "" { // "" for Scan: nothing to create
		if err := s.mkdirs(paths); err != nil {
			return nil, err
		}
	}
	files := make([]wsFile, len(paths))
	keep := make([]bool, len(paths))
	err := forEachFile(ctx, len(paths), func(i int, buf *copyBuf) error {
		f, ok, err := s.placeOne(paths[i], buf)
		files[i], keep[i] = f, ok
		return err
	})
	if err != nil {
		return nil, err
	}
	w := 0
	for i := range files {
		if keep[i] {
			files[w] = files[i]
			w++
		}
	}
	return files[:w], nil
}

// mkdirs creates every parent directory of paths in dst, parents first,
// with the mode (and, as root, the owner) of the directory in repo.
func (s *snapshotter) mkdirs(paths []string) error {
	set := map[string]bool{}
	for _, p := range paths {
		for d := path.Dir(p); d != "." && !set[d]; d = path.Dir(d) {
			set[d] = true
		}
	}
	dirs := make([]string, 0, len(set))
	for d := range set {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		if err := s.mkdir(d); err != nil {
			return err
		}
	}
	return nil
}

// mkdir creates one directory of the snapshot (it may exist already when a
// submodule's files are placed after the first pass).
func (s *snapshotter) mkdir(rel string) error {
	dst := filepath.Join(s.dst, filepath.FromSlash(rel))
	perm := fs.FileMode(0o755)
	fi, err := os.Lstat(filepath.Join(s.repo, filepath.FromSlash(rel)))
	if err == nil && fi.IsDir() {
		perm = fi.Mode().Perm()
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	}
	if fi != nil {
		s.chown(dst, fi)
	}
	return os.Chmod(dst, perm)
}

// chown gives dst the owner of fi when running as root; failures are
// ignored (the content is what matters; the mode is kept regardless).
func (s *snapshotter) chown(dst string, fi fs.FileInfo) {
	if uid, gid, ok := ownerOf(fi); ok && s.root {
		os.Lchown(dst, uid, gid)
	}
}

// placeOne puts one path into the snapshot. ok is false when the path is left
// out: deleted since git listed it, a special file, or a directory (queued to
// be walked).
func (s *snapshotter) placeOne(rel string, buf *copyBuf) (f wsFile, ok bool, err error) {
	if f, ok := s.scanCached(rel); ok {
		return f, true, nil
	}
	src := filepath.Join(s.repo, filepath.FromSlash(rel))
	dst := src // Scan: read the repo's files
	if s.dst != "" {
		dst = filepath.Join(s.dst, filepath.FromSlash(rel))
	}
	fi, err := os.Lstat(src)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return f, false, nil // tracked but deleted: not in the work tree, not in the snapshot
	case err != nil:
		return f, false, err
	case fi.Mode()&fs.ModeSymlink != 0:
		f, err = s.placeSymlink(rel, src, dst, fi)
		return f, err == nil, err
	case fi.IsDir():
		s.mu.Lock()
		s.dirs = append(s.dirs, rel)
		s.mu.Unlock()
		return f, false, nil
	case !fi.Mode().IsRegular():
		s.special.Add(1)
		return f, false, nil
	}
	f, err = s.placeFile(rel, src, dst, fi, buf)
	return f, err == nil, err
}

// scanCached is placeOne's fast way for a scan (nothing to place): a
// regular file whose hash the cache holds for its stat. ok is false for
// every other case, which placeOne then takes the general way.
func (s *snapshotter) scanCached(rel string) (wsFile, bool) {
	if s.dst != "" {
		return wsFile{}, false
	}
	st, ok := s.dirFDs.lstatRegular(rel)
	if !ok {
		return wsFile{}, false
	}
	sum, ok := s.cache.lookup(rel, st)
	if !ok {
		return wsFile{}, false
	}
	return wsFile{path: rel, exec: st.mode&0o111 != 0, stat: st, sum: sum, cacheable: true}, true
}

// placeSymlink recreates a symlink; its digest is the hash of its target.
func (s *snapshotter) placeSymlink(rel, src, dst string, fi fs.FileInfo) (wsFile, error) {
	target, err := os.Readlink(src)
	if err != nil {
		return wsFile{}, err
	}
	if s.dst != "" {
		if err := os.Symlink(target, dst); err != nil {
			return wsFile{}, err
		}
		s.chown(dst, fi)
	}
	return wsFile{path: rel, symlink: true, sum: sha256.Sum256([]byte(target))}, nil
}

// placeFile links (or clones, or copies) one regular file and hashes it,
// reusing the cached hash when its stat is unchanged.
func (s *snapshotter) placeFile(rel, src, dst string, fi fs.FileInfo, buf *copyBuf) (wsFile, error) {
	st := statKeyOf(fi)
	if s.dst != "" {
		if err := s.put(src, dst, fi); err != nil {
			return wsFile{}, err
		}
	}
	f := wsFile{path: rel, exec: fi.Mode()&0o111 != 0, stat: st}
	if sum, ok := s.cache.lookup(rel, st); ok {
		f.sum, f.cacheable = sum, true
		return f, nil
	}
	sum, err := hashFile(dst, buf.bytes())
	if err != nil {
		return wsFile{}, err
	}
	s.rehashed.Add(1)
	f.sum, f.hashed = sum, true
	after, err := os.Lstat(src)
	f.cacheable = err == nil && statKeyOf(after) == st // changed while hashing: do not cache
	return f, nil
}

// hashFile returns the sha256 of the file at p.
func hashFile(p string, buf []byte) ([32]byte, error) {
	var sum [32]byte
	fh, err := os.Open(p)
	if err != nil {
		return sum, err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.CopyBuffer(h, fh, buf); err != nil {
		return sum, fmt.Errorf("hash %s: %w", p, err)
	}
	h.Sum(sum[:0])
	return sum, nil
}

// put makes dst a copy of src without copying data where it can: a hard
// link; after the first EXDEV a reflink; if that fails too, a copy. A hard
// link refused for this file only (EPERM under fs.protected_hardlinks, EMLINK
// at the link limit) falls back to a copy of this file.
func (s *snapshotter) put(src, dst string, fi fs.FileInfo) error {
	switch s.method.Load() {
	case placeLink:
		err := os.Link(src, dst)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EXDEV):
			s.method.CompareAndSwap(placeLink, placeClone)
			return s.put(src, dst, fi)
		case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EMLINK), errors.Is(err, syscall.EACCES):
			s.refused.Add(1)
			return s.copyFile(src, dst, fi)
		}
		return err
	case placeClone:
		if err := cloneFile(src, dst, fi.Mode().Perm()); err == nil {
			return s.finishCopy(dst, fi)
		}
		os.Remove(dst)
		s.method.CompareAndSwap(placeClone, placeCopy)
	}
	return s.copyFile(src, dst, fi)
}

// copyFile copies src to dst (the kernel may still share blocks:
// copy_file_range).
func (s *snapshotter) copyFile(src, dst string, fi fs.FileInfo) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(out, in)
	s.copied.Add(n)
	if err := errors.Join(err, out.Close()); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return s.finishCopy(dst, fi)
}

// finishCopy gives a copy the mode and owner of the original.
func (s *snapshotter) finishCopy(dst string, fi fs.FileInfo) error {
	s.chown(dst, fi)
	return os.Chmod(dst, fi.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
}

// notes says how the snapshot was made, when it matters to the user.
func (s *snapshotter) notes() []string {
	var n []string
	switch s.method.Load() {
	case placeClone:
		n = append(n, fmt.Sprintf("workspace: %s is on another filesystem than %s: files were reflinked (FICLONE), not hard-linked", s.dst, s.repo))
	case placeCopy:
		n = append(n, fmt.Sprintf("workspace: %s is on another filesystem than %s, which cannot reflink: files were copied (%d MB); put pipe's store ($PIPE_HOME) on the repo's filesystem to avoid the copy", s.dst, s.repo, s.copied.Load()>>20))
	}
	if r := s.refused.Load(); r > 0 {
		n = append(n, fmt.Sprintf("workspace: %d files could not be hard-linked (permission or link count) and were copied", r))
	}
	if sp := s.special.Load(); sp > 0 {
		n = append(n, fmt.Sprintf("workspace: %d sockets, FIFOs or devices left out", sp))
	}
	return n
}
