package kept

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// needsRoot skips unless root tests are asked for (PIPE_TEST_ROOT=1): a
// whiteout is a device node and an opaque dir a trusted.* xattr.
func needsRoot(t *testing.T) {
	t.Helper()
	if os.Getenv("PIPE_TEST_ROOT") != "1" {
		t.Skip("needs root: set PIPE_TEST_ROOT=1")
	}
}

// LinkTree keeps whiteouts and opaque dirs, and shares the files' data.
func TestLinkTreeKeepsOverlayForm(t *testing.T) {
	needsRoot(t)
	src, dst := t.TempDir(), filepath.Join(t.TempDir(), "copy")
	if err := os.MkdirAll(filepath.Join(src, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "d/f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mknod(filepath.Join(src, "gone"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(src, "d"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	if err := LinkTree(src, dst); err != nil {
		t.Fatal(err)
	}
	var a, b unix.Stat_t
	unix.Stat(filepath.Join(src, "d/f"), &a)
	unix.Stat(filepath.Join(dst, "d/f"), &b)
	if a.Ino != b.Ino {
		t.Errorf("d/f was copied, not linked")
	}
	if err := unix.Lstat(filepath.Join(dst, "gone"), &b); err != nil || b.Mode&unix.S_IFMT != unix.S_IFCHR || b.Rdev != 0 {
		t.Errorf("whiteout: %v mode %o", err, b.Mode)
	}
	buf := make([]byte, 4)
	if n, err := unix.Getxattr(filepath.Join(dst, "d"), "trusted.overlay.opaque", buf); err != nil || string(buf[:n]) != "y" {
		t.Errorf("opaque xattr: %v %q", err, buf[:n])
	}
}
