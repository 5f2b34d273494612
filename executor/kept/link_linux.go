package kept

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// LinkTree makes dst a copy of the overlay-form dir src in which every
// non-directory is a hard link to src's (no data copied; whiteouts, symlinks
// and devices included) and every directory is new, with src's mode, owner,
// times and overlay xattrs (opaque dirs stay opaque). Files on another
// filesystem are copied.
func LinkTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return copyDir(p, target)
		}
		return linkOrCopy(p, target, d)
	})
}

// copyDir makes dir target like dir p (its content comes later).
func copyDir(p, target string) error {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	if err := os.MkdirAll(target, 0o700); err != nil {
		return err
	}
	if err := os.Lchown(target, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	if err := os.Chmod(target, fs.FileMode(st.Mode&0o7777)|modeBits(st.Mode)); err != nil {
		return err
	}
	return copyXattrs(p, target)
}

// modeBits maps the setuid, setgid and sticky bits to Go's.
func modeBits(m uint32) fs.FileMode {
	var out fs.FileMode
	if m&unix.S_ISUID != 0 {
		out |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		out |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		out |= fs.ModeSticky
	}
	return out
}

// copyXattrs copies the overlay xattrs (trusted.overlay.*) of a dir.
func copyXattrs(p, target string) error {
	for _, name := range []string{"trusted.overlay.opaque", "user.overlay.opaque"} {
		buf := make([]byte, 16)
		n, err := unix.Lgetxattr(p, name, buf)
		if errors.Is(err, unix.ENODATA) || errors.Is(err, unix.ENOTSUP) {
			continue
		}
		if err != nil {
			return &os.PathError{Op: "getxattr " + name, Path: p, Err: err}
		}
		if err := unix.Lsetxattr(target, name, buf[:n], 0); err != nil {
			return &os.PathError{Op: "setxattr " + name, Path: target, Err: err}
		}
	}
	return nil
}

// linkOrCopy hard-links p at target, or copies a regular file or symlink
// when the link is refused (another filesystem).
func linkOrCopy(p, target string, d fs.DirEntry) error {
	err := os.Link(p, target)
	if err == nil || !errors.Is(err, syscall.EXDEV) && !errors.Is(err, syscall.EPERM) {
		return err
	}
	switch {
	case d.Type()&fs.ModeSymlink != 0:
		dest, err := os.Readlink(p)
		if err != nil {
			return err
		}
		return os.Symlink(dest, target)
	case d.Type().IsRegular():
		return copyFile(p, target)
	}
	return fmt.Errorf("keep %s: %w", p, err)
}

func copyFile(p, target string) error {
	in, err := os.Open(p)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
