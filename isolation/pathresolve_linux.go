package isolation

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Every path inside a container's root is resolved by the kernel with
// openat2(RESOLVE_IN_ROOT): ".." and symlinks (absolute ones included) cannot
// leave the root, and magic links (/proc/self/fd/N) are not followed. The
// result is an O_PATH fd, and mounts are attached to that fd (move_mount),
// never to a path string that could be swapped between check and use
// (CVE-2021-30465, CVE-2025-31133 and kin).

const resolveInRoot = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// openInRoot opens p (relative to the root fd, "/" = the root) as an O_PATH
// fd, following symlinks inside the root.
func openInRoot(root int, p string, flags uint64) (int, error) {
	return openat2(root, p, flags|unix.O_PATH|unix.O_CLOEXEC, resolveInRoot)
}

// openNoFollow opens p with no symlink anywhere in it (ELOOP otherwise).
func openNoFollow(root int, p string, flags uint64) (int, error) {
	return openat2(root, p, flags|unix.O_PATH|unix.O_CLOEXEC, resolveInRoot|unix.RESOLVE_NO_SYMLINKS)
}

func openat2(dir int, p string, flags, resolve uint64) (int, error) {
	rel := strings.TrimLeft(path.Clean("/"+p), "/")
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{Flags: flags, Resolve: resolve}
	for {
		fd, err := unix.Openat2(dir, rel, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "openat2", Path: p, Err: err}
		}
		return fd, nil
	}
}

// mkdirAllInRoot makes dir p and its missing parents inside root, each one
// with mkdirat relative to its resolved parent, and returns an O_PATH fd of p.
func mkdirAllInRoot(root int, p string, mode uint32) (int, error) {
	fd, err := openInRoot(root, p, unix.O_DIRECTORY)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	parent, base := path.Split(path.Clean("/" + p))
	pfd, err := mkdirAllInRoot(root, parent, mode)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	if err := unix.Mkdirat(pfd, base, mode); err != nil && err != unix.EEXIST {
		return -1, &os.PathError{Op: "mkdirat", Path: p, Err: err}
	}
	// An EEXIST here is a dangling symlink made by the image: resolving it
	// again either finds what it points to (inside the root) or fails.
	fd, err = openInRoot(root, p, unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) {
		return -1, fmt.Errorf("%s is a dangling symlink in the image: %w", p, err)
	}
	return fd, err
}

// createFileInRoot returns an O_PATH fd of the file p inside root, creating
// it empty (and its parents) when missing.
func createFileInRoot(root int, p string) (int, error) {
	fd, err := openInRoot(root, p, 0)
	if err == nil || !errors.Is(err, unix.ENOENT) {
		return fd, err
	}
	parent, base := path.Split(path.Clean("/" + p))
	pfd, err := mkdirAllInRoot(root, parent, 0o755)
	if err != nil {
		return -1, err
	}
	defer unix.Close(pfd)
	f, err := unix.Openat(pfd, base, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil && err != unix.EEXIST {
		return -1, &os.PathError{Op: "create", Path: p, Err: err}
	}
	if err == nil {
		unix.Close(f)
	}
	return openInRoot(root, p, 0)
}

// fdPath is a human-readable path of fd, for error messages.
func fdPath(fd int) string {
	p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return fmt.Sprintf("fd %d", fd)
	}
	return p
}
