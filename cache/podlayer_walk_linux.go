//go:build linux

package cache

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// The tree walks of IndexTree and DiffTree go from dir fd to dir fd with
// O_NOFOLLOW: a symlink is never followed, so a process that swaps a dir for
// a symlink while the walk runs cannot make it read outside the tree.

// treeItem is one dir entry: its name, lstat and, for a symlink, target.
type treeItem struct {
	name string
	st   unix.Stat_t
	link string
}

// isDir says whether the item is a dir.
func (it *treeItem) isDir() bool { return it.st.Mode&unix.S_IFMT == unix.S_IFDIR }

// readNames lists the names in the open dir dfd (which stays open).
func readNames(dfd int) ([]string, error) {
	fd, err := unix.Dup(dfd)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "dir")
	defer f.Close()
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return nil, err
	}
	return f.Readdirnames(-1)
}

// dirItems lists the dir dfd sorted by name, sockets left out (a layer tar
// has no form for them).
func dirItems(dfd int) ([]treeItem, error) {
	names, err := readNames(dfd)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	items := make([]treeItem, 0, len(names))
	for _, n := range names {
		it := treeItem{name: n}
		err := unix.Fstatat(dfd, n, &it.st, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) {
			continue // gone since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", n, err)
		}
		switch it.st.Mode & unix.S_IFMT {
		case unix.S_IFSOCK:
			continue
		case unix.S_IFLNK:
			if it.link, err = readlinkat(dfd, n); err != nil {
				return nil, err
			}
		}
		items = append(items, it)
	}
	return items, nil
}

// readlinkat reads the target of the symlink name in dfd.
func readlinkat(dfd int, name string) (string, error) {
	for size := 256; ; size *= 4 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(dfd, name, buf)
		if err != nil {
			return "", fmt.Errorf("readlink %s: %w", name, err)
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// openSubdir opens the dir name in dfd for reading, never following it.
func openSubdir(dfd int, name string) (int, error) {
	for {
		fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if !errors.Is(err, unix.EINTR) {
			return fd, err
		}
	}
}

// openTreeRoot opens the root of a tree walk.
func openTreeRoot(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return fd, nil
}

// joinRel is the relative path of base in the dir rel ("" the root).
func joinRel(rel, base string) string {
	if rel == "" {
		return base
	}
	return rel + "/" + base
}

// treeEntry is the index record of the item at the path p.
func (it *treeItem) treeEntry(p string) TreeEntry {
	return TreeEntry{
		Path: p, Mode: it.st.Mode, UID: it.st.Uid, GID: it.st.Gid, Size: it.st.Size,
		Mtime: unix.TimespecToNsec(it.st.Mtim), Ctime: unix.TimespecToNsec(it.st.Ctim),
		Ino: it.st.Ino, Link: it.link,
	}
}

// same says whether the item is unchanged since its record e: any change of
// type, mode, owner, size, mtime, ctime, inode or target counts.
func (it *treeItem) same(e *TreeEntry) bool {
	now := it.treeEntry(e.Path)
	return now == *e
}

// IndexTree records the metadata of every path under dir (dir itself
// excluded), for DiffTree. Sockets are left out.
//
// A change made after IndexTree returns is always seen, even one in the
// same clock tick as the entry's last change: if an entry changed within
// the last tick, IndexTree waits the tick out before returning (a file's
// ctime comes from a clock that moves in ticks of up to 10 ms, or whole
// seconds on some filesystems).
func IndexTree(dir string) (*TreeIndex, error) {
	root, err := openTreeRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("index %s: %w", dir, err)
	}
	defer unix.Close(root)
	w := &indexWalk{}
	if err := w.dir(root, ""); err != nil {
		return nil, fmt.Errorf("index %s: %w", dir, err)
	}
	w.waitOutTick()
	return newTreeIndex(w.entries)
}

// indexWalk gathers the records of one IndexTree.
type indexWalk struct {
	entries  []TreeEntry
	maxCtime int64 // ns
	fineTime bool  // some time had a non-zero sub-second part
}

func (w *indexWalk) dir(dfd int, rel string) error {
	items, err := dirItems(dfd)
	if err != nil {
		return fmt.Errorf("%s: %w", displayRel(rel), err)
	}
	for i := range items {
		it := &items[i]
		p := joinRel(rel, it.name)
		e := it.treeEntry(p)
		w.entries = append(w.entries, e)
		w.maxCtime = max(w.maxCtime, e.Ctime)
		w.fineTime = w.fineTime || it.st.Ctim.Nsec != 0
		if it.isDir() {
			if err := w.subdir(dfd, it.name, p); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *indexWalk) subdir(dfd int, name, p string) error {
	fd, err := openSubdir(dfd, name)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer unix.Close(fd)
	return w.dir(fd, p)
}

// Clock ticks IndexTree waits out: the kernel's coarse clock, or whole
// seconds where the filesystem keeps no sub-second times.
const (
	fineTick   = 20 * time.Millisecond
	coarseTick = 1100 * time.Millisecond
)

// waitOutTick sleeps until the latest ctime seen is a tick in the past.
func (w *indexWalk) waitOutTick() {
	tick := fineTick
	if !w.fineTime && len(w.entries) > 0 {
		tick = coarseTick
	}
	wait := time.Until(time.Unix(0, w.maxCtime).Add(tick))
	if wait > 0 {
		time.Sleep(min(wait, tick))
	}
}

// displayRel names the dir rel in errors.
func displayRel(rel string) string {
	if rel == "" {
		return "the root"
	}
	return rel
}
