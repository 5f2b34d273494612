package executor

import (
	"errors"
	"io/fs"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// opaqueXattrs are the xattrs overlayfs marks an opaque directory with: as
// root, and with the userxattr mount option.
var opaqueXattrs = [...]string{"trusted.overlay.opaque", "user.overlay.opaque"}

// isWhiteout reports whether fi is an overlay whiteout: a 0/0 character device.
func isWhiteout(fi fs.FileInfo) bool {
	if fi.Mode()&fs.ModeCharDevice == 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && st.Rdev == 0
}

// isOpaqueDir reports whether the directory p hides what is below it.
func isOpaqueDir(p string) bool {
	buf := make([]byte, 8)
	for _, x := range opaqueXattrs {
		n, err := unix.Lgetxattr(p, x, buf)
		if err == nil && n == 1 && buf[0] == 'y' {
			return true
		}
	}
	return false
}

// clearOpaque removes a directory's opaque marker, if it has one.
func clearOpaque(p string) error {
	for _, x := range opaqueXattrs {
		err := unix.Lremovexattr(p, x)
		if err != nil && !errors.Is(err, unix.ENODATA) && !errors.Is(err, unix.ENOTSUP) && !errors.Is(err, unix.EPERM) {
			return &os.PathError{Op: "removexattr " + x, Path: p, Err: err}
		}
	}
	return nil
}
