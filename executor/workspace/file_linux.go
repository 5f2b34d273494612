package workspace

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// cloneFile makes dst a reflink copy of src (FICLONE: shares data blocks,
// copy-on-write; btrfs, XFS with reflink, bcachefs). It fails with EXDEV
// across filesystems and EOPNOTSUPP/EINVAL where the filesystem cannot.
func cloneFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if err := unix.IoctlFileClone(int(out.Fd()), int(in.Fd())); err != nil {
		out.Close()
		os.Remove(dst)
		return &os.PathError{Op: "ioctl FICLONE", Path: dst, Err: err}
	}
	return out.Close()
}

// inodeOf returns the inode number of fi.
func inodeOf(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// ownerOf returns the owner of fi.
func ownerOf(fi fs.FileInfo) (uid, gid int, ok bool) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid), true
	}
	return 0, 0, false
}

// localFS reports whether dir is on a local filesystem known to update a
// directory's mtime whenever an entry is added, removed or renamed in it
// (what a kept listing relies on); network and FUSE filesystems are not.
func localFS(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return false
	}
	switch st.Type {
	case unix.EXT4_SUPER_MAGIC, unix.XFS_SUPER_MAGIC, unix.BTRFS_SUPER_MAGIC, unix.TMPFS_MAGIC,
		unix.F2FS_SUPER_MAGIC, unix.BCACHEFS_SUPER_MAGIC, unix.OVERLAYFS_SUPER_MAGIC, 0x2fc12fc1: // zfs
		return true
	}
	return false
}

// dirFDs holds O_PATH descriptors of the checkout's directories, so that
// a scan stats each file relative to its directory: no path walk from the
// root for every file, and no allocation (os.Lstat makes a FileInfo).
type dirFDs struct {
	root string
	mu   sync.Mutex
	fds  map[string]int // by slash-separated dir relative to root; -1: could not open
}

// lstatRegular returns the stat key of the regular file rel (relative to
// the root), as statKeyOf(os.Lstat) gives it; ok is false when rel is not
// a regular file or cannot be stat'ed this way (the caller then uses
// os.Lstat, which says why).
func (d *dirFDs) lstatRegular(rel string) (statKey, bool) {
	dir, name := path.Split(rel)
	fd := d.open(dir)
	if fd < 0 {
		return statKey{}, false
	}
	var st unix.Stat_t
	for {
		err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.EINTR {
			continue
		}
		if err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			return statKey{}, false
		}
		break
	}
	mode := fs.FileMode(st.Mode & 0o777)
	if st.Mode&unix.S_ISUID != 0 {
		mode |= fs.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		mode |= fs.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		mode |= fs.ModeSticky
	}
	return statKey{size: st.Size, mtime: st.Mtim.Sec*1e9 + st.Mtim.Nsec, ino: st.Ino, mode: uint32(mode)}, true
}

// open returns the descriptor of dir ("" or ending in "/"), opened once.
func (d *dirFDs) open(dir string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if fd, ok := d.fds[dir]; ok {
		return fd
	}
	if d.fds == nil {
		d.fds = map[string]int{}
	}
	fd, err := unix.Open(filepath.Join(d.root, filepath.FromSlash(dir)), unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		fd = -1
	}
	d.fds[dir] = fd
	return fd
}

// close closes every descriptor.
func (d *dirFDs) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, fd := range d.fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	d.fds = nil
}
