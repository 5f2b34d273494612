//go:build linux

package cache

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// parent returns an O_PATH fd of the entry's parent dir, creating missing
// dirs (0755) on the way. No symlink is ever followed: a parent that is a
// symlink is refused. The fd of the last parent is kept, since tar entries
// come dir by dir; it stays valid because an entry never removes its own
// parent (only the entry's name itself, below the cached dir).
func (x *extractor) parent(dir string) (int, error) {
	if x.parentFd >= 0 && dir == x.parentName {
		return x.parentFd, nil
	}
	fd, err := openBeneath(x.root, dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		fd, err = x.makeParents(dir)
	}
	if err != nil {
		return -1, err
	}
	x.dropParent()
	x.parentName, x.parentFd = dir, fd
	return fd, nil
}

// dropParent forgets the cached parent fd.
func (x *extractor) dropParent() {
	if x.parentFd >= 0 {
		unix.Close(x.parentFd)
	}
	x.parentName, x.parentFd = "", -1
}

// makeParents walks dir one component at a time from the root with
// O_NOFOLLOW, creating what is missing, and says precisely what is wrong.
func (x *extractor) makeParents(dir string) (int, error) {
	cur := x.root
	done := 0
	for done < len(dir) {
		end := strings.IndexByte(dir[done:], '/')
		if end < 0 {
			end = len(dir)
		} else {
			end += done
		}
		fd, err := x.openOrMkdir(cur, dir[done:end])
		if cur != x.root {
			unix.Close(cur)
		}
		if err != nil {
			return -1, x.lookupError(dir[:end], "", err)
		}
		cur, done = fd, end+1
	}
	if cur == x.root {
		return unix.Dup(x.root)
	}
	return cur, nil
}

// openOrMkdir opens the dir base in dfd, creating it if missing.
func (x *extractor) openOrMkdir(dfd int, base string) (int, error) {
	const flags = unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Openat(dfd, base, flags, 0)
	if errors.Is(err, unix.ENOENT) {
		if err = unix.Mkdirat(dfd, base, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
			fd, err = unix.Openat(dfd, base, flags, 0)
		}
	}
	return fd, err
}

// lookupError explains why the dir p cannot be used: a symlink in the way is
// an attempt to write through it.
// what, if not empty, says which path of the entry is concerned.
func (x *extractor) lookupError(p string, what string, err error) error {
	if what != "" {
		what += ": "
	}
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.EXDEV) {
		for q := p; q != "."; q, _ = splitName(q) {
			var st unix.Stat_t
			if unix.Fstatat(x.root, q, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				return unsafeEntry("%swrites through a symlink: %q is a symlink in this layer", what, q)
			}
		}
		return fmt.Errorf("%s%q is not a directory", what, p)
	}
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%s%q does not exist in this layer", what, p)
	}
	return fmt.Errorf("%sopen %q: %w", what, p, err)
}

// openBeneath opens name (clean, relative) below root without following any
// symlink, with openat2 or, on kernels without it, a walk with O_NOFOLLOW.
func openBeneath(root int, name string, flags int) (int, error) {
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(root, name, &how)
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.EINTR), errors.Is(err, unix.EAGAIN):
			continue
		case errors.Is(err, unix.ENOSYS):
			// No openat2 (Linux < 5.6, or a seccomp filter that hides it).
			return walkOpen(root, name, flags)
		default:
			return -1, err
		}
	}
}

// walkOpen is openBeneath one component at a time.
func walkOpen(root int, name string, flags int) (int, error) {
	parts := strings.Split(name, "/")
	cur := root
	for i, p := range parts {
		f := unix.O_PATH | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC
		if i == len(parts)-1 {
			f = flags | unix.O_NOFOLLOW | unix.O_CLOEXEC
		}
		fd, err := unix.Openat(cur, p, f, 0)
		if cur != root {
			unix.Close(cur)
		}
		if err != nil {
			return -1, err
		}
		cur = fd
	}
	return cur, nil
}

// createOrReplace runs create; if the name is taken, it removes what is
// there (a whole dir tree if need be) and runs create again.
func (x *extractor) createOrReplace(e at, create func() error) error {
	err := create()
	if !errors.Is(err, unix.EEXIST) {
		return err
	}
	return x.replace(e, create)
}

// replace removes the entry e and runs create.
func (x *extractor) replace(e at, create func() error) error {
	err := unix.Unlinkat(e.pfd, e.base, 0)
	if errors.Is(err, unix.EISDIR) {
		err = os.RemoveAll(procPath(e))
		delete(x.dirs, e.name)
	}
	if err != nil {
		return fmt.Errorf("remove the earlier entry: %w", err)
	}
	if x.parentName == e.name || strings.HasPrefix(x.parentName, e.name+"/") {
		x.dropParent() // never the case today: see parent
	}
	return create()
}

// procFd is the /proc path of an fd, usable with the *xattr calls that
// follow the path (setxattr works on O_PATH fds only this way).
func procFd(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// procPath is the /proc path of an entry: its parent's fd plus its base,
// usable with the calls that do not follow the last component (lsetxattr).
func procPath(e at) string { return procFd(e.pfd) + "/" + e.base }

// futimens sets atime and mtime on an open fd with nanosecond precision
// (utimensat with a NULL path).
func futimens(fd int, atime, mtime unix.Timespec) error {
	ts := [2]unix.Timespec{atime, mtime}
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if errno != 0 {
		return fmt.Errorf("set times: %w", errno)
	}
	return nil
}
