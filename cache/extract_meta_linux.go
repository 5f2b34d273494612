//go:build linux

package cache

import (
	"archive/tar"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// whiteout turns the OCI whiteout entries into overlay form: .wh..wh..opq
// marks its dir opaque, .wh.NAME becomes a 0/0 char device NAME, other
// .wh..wh.* (aufs metadata) are skipped.
func (x *extractor) whiteout(dir, base string) error {
	if base == opaqueMarker {
		pfd, err := x.parent(dir)
		if err != nil {
			return err
		}
		if err := unix.Setxattr(procFd(pfd), x.opts.opaqueXattr(), []byte(opaqueValue), 0); err != nil {
			return fmt.Errorf("mark %q opaque (%s): %w", dir, x.opts.opaqueXattr(), err)
		}
		return nil
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil
	}
	target := base[len(whiteoutPrefix):]
	if target == "" || target == "." || target == ".." {
		return unsafeEntry("whiteout names no file")
	}
	pfd, err := x.parent(dir)
	if err != nil {
		return err
	}
	err = unix.Mknodat(pfd, target, unix.S_IFCHR, 0)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		// The same layer has the file: a whiteout only hides lower layers,
		// and the file hides them already.
		return nil
	case errors.Is(err, unix.EPERM) && !x.opts.Root:
		if err := xwhiteoutHonoured(kernelRelease()); err != nil {
			return fmt.Errorf("create the whiteout %q: %w", target, err)
		}
		return xwhiteout(pfd, target)
	default:
		return fmt.Errorf("create the whiteout %q (a 0/0 char device): %w", target, err)
	}
}

// xwhiteoutHonoured says whether overlayfs on the kernel of release (uname
// -r) hides a lower file behind an xwhiteout: from Linux 6.7 on. Before, the
// file would silently come back in every container, so the layer is refused
// with what to do instead. An unknown release form is let through.
func xwhiteoutHonoured(release string) error {
	var major, minor int
	if _, err := fmt.Sscanf(release, "%d.%d", &major, &minor); err != nil {
		return nil
	}
	if major < 6 || major == 6 && minor < 7 {
		return fmt.Errorf("this filesystem refuses an unprivileged 0/0 device, and overlayfs on Linux %s (before 6.7) ignores the xattr form an ordinary user can make instead: put the store (PIPE_HOME) on a local ext4, xfs or btrfs filesystem, or run pipe as root", release)
	}
	return nil
}

// kernelRelease is uname -r, or "" when uname fails.
func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// xwhiteout is the whiteout form an unprivileged user can create (Linux
// 6.7+ overlayfs with userxattr): an empty file with user.overlay.whiteout,
// in a dir with user.overlay.opaque=x (unless it is fully opaque already).
func xwhiteout(pfd int, target string) error {
	fd, err := unix.Openat(pfd, target, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create the whiteout %q: %w", target, err)
	}
	err = unix.Fsetxattr(fd, userWhiteout, []byte(opaqueValue), 0)
	unix.Close(fd)
	if err != nil {
		return fmt.Errorf("create the whiteout %q: set %s: %w", target, userWhiteout, err)
	}
	v := make([]byte, 8)
	if n, err := unix.Getxattr(procFd(pfd), userOpaque, v); err == nil && string(v[:n]) == opaqueValue {
		return nil
	}
	if err := unix.Setxattr(procFd(pfd), userOpaque, []byte("x"), 0); err != nil {
		return fmt.Errorf("create the whiteout %q: mark its dir (%s=x): %w", target, userOpaque, err)
	}
	return nil
}

// setXattrs sets the entry's xattrs (PAX records SCHILY.xattr.*) that a layer
// may carry, with set (setxattr, lsetxattr or an fsetxattr closure).
// Filesystems without xattr support silently lose them.
func (x *extractor) setXattrs(path string, hdr *tar.Header, set func(path, attr string, v []byte, flags int) error) error {
	for k, v := range hdr.PAXRecords {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || !x.keepXattr(name) {
			continue
		}
		err := set(path, name, []byte(v), 0)
		if errors.Is(err, unix.ENOTSUP) || (errors.Is(err, unix.EPERM) && strings.HasPrefix(name, "user.")) {
			continue // no xattrs here, or user.* on a symlink or special file
		}
		if err != nil {
			return fmt.Errorf("set xattr %s: %w", name, err)
		}
	}
	return nil
}

// keepXattr says whether a layer's xattr is written: never the overlay's own
// (a layer must not smuggle in whiteouts or redirects), no security labels
// but file capabilities, and privileged namespaces only as root.
func (x *extractor) keepXattr(name string) bool {
	switch {
	case strings.HasPrefix(name, "trusted.overlay."), strings.HasPrefix(name, "user.overlay."):
		return false
	case name == "security.capability":
		return x.opts.Root
	case strings.HasPrefix(name, "trusted."):
		return x.opts.Root && !x.opts.UserNS
	case strings.HasPrefix(name, "security."):
		return false
	}
	return true
}

// entryTimes is the entry's atime and mtime; a missing atime is the mtime.
func entryTimes(hdr *tar.Header) (atime, mtime unix.Timespec) {
	mtime = timespec(hdr.ModTime)
	if hdr.AccessTime.IsZero() {
		return mtime, mtime
	}
	return timespec(hdr.AccessTime), mtime
}

func timespec(t time.Time) unix.Timespec {
	return unix.Timespec{Sec: t.Unix(), Nsec: int64(t.Nanosecond())}
}

// chownError says why an entry could not get its owner. In a user namespace
// EINVAL means the id is not mapped: the subordinate ranges are too small.
func (x *extractor) chownError(hdr *tar.Header, err error) error {
	if x.opts.UserNS && errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("chown %d:%d: %w: the id is outside your user namespace, whose subordinate ranges "+
			"(/etc/subuid, /etc/subgid) are too small for this image: give your user 65536 ids or more (usermod --add-subuids/--add-subgids)", hdr.Uid, hdr.Gid, err)
	}
	return fmt.Errorf("chown %d:%d: %w", hdr.Uid, hdr.Gid, err)
}
