//go:build linux

package cache

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// extCapNetRaw is a security.capability value (VFS v2) granting cap_net_raw+ep.
func extCapNetRaw() string {
	b := make([]byte, 20)
	binary.LittleEndian.PutUint32(b[0:], 0x02000000|1) // revision 2, effective
	binary.LittleEndian.PutUint32(b[4:], 1<<13)        // permitted: CAP_NET_RAW
	return string(b)
}

// TestExtractWhiteouts: .wh.NAME becomes a 0/0 char device, .wh..wh..opq
// the opaque xattr of its dir (not a file), aufs metadata is skipped, and a
// whiteout never removes a file of its own layer.
func TestExtractWhiteouts(t *testing.T) {
	extNeedsRoot(t)
	s := newExtSandbox(t)
	b := extTar(t,
		extReg(".wh.gone", ""),
		extDir("d/"), extReg("d/.wh..wh..opq", ""), extReg("d/new", "n"),
		extReg("e/.wh.deep", ""),
		extReg(".wh..wh.plnk", ""), extDir(".wh..wh.plnk/"),
		extReg("kept", "k"), extReg(".wh.kept", ""),
		extReg(".wh.later", ""), extReg("later", "l"),
	)
	if _, err := s.extract(b, extractOptions{Root: true}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"gone", "e/deep"} {
		st := extLstat(t, filepath.Join(s.root, p))
		if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 || st.Uid != 0 || st.Gid != 0 {
			t.Errorf("%s: mode %o rdev %d owner %d:%d, want a 0/0 char device owned by root", p, st.Mode, st.Rdev, st.Uid, st.Gid)
		}
	}
	if v, _ := getXattr(filepath.Join(s.root, "d"), trustedOpaque); v != "y" {
		t.Errorf("d: %s = %q, want y", trustedOpaque, v)
	}
	for _, p := range []string{"d/.wh..wh..opq", ".wh..wh.plnk", ".wh.gone", "d/.wh.new"} {
		if _, err := os.Lstat(filepath.Join(s.root, p)); !os.IsNotExist(err) {
			t.Errorf("%s exists (err %v), want nothing", p, err)
		}
	}
	extWantFile(t, filepath.Join(s.root, "kept"), "k")
	extWantFile(t, filepath.Join(s.root, "later"), "l")
	s.checkOutside(t)
}

// TestExtractOpaqueNotRoot: without Root the opaque marker uses the
// user.overlay namespace (overlay's userxattr mode).
func TestExtractOpaqueNotRoot(t *testing.T) {
	s := newExtSandbox(t)
	if _, err := s.extract(extTar(t, extDir("d/"), extReg("d/.wh..wh..opq", "")), extractOptions{}); err != nil {
		t.Fatal(err)
	}
	if v, _ := getXattr(filepath.Join(s.root, "d"), userOpaque); v != "y" {
		t.Errorf("d: %s = %q, want y", userOpaque, v)
	}
	if v, _ := getXattr(filepath.Join(s.root, "d"), trustedOpaque); v != "" {
		t.Errorf("d: %s = %q, want none", trustedOpaque, v)
	}
}

// TestExtractLinks: hardlinks share the inode, symlinks keep their target
// verbatim, even absolute ones.
func TestExtractLinks(t *testing.T) {
	s := newExtSandbox(t)
	b := extTar(t, extReg("a/f", "data"), extLink("b/g", "a/f"), extLink("h", "/a/f"),
		extSym("abs", "/etc/passwd"), extSym("rel", "../x/y"), extSym("bin/sh", "/bin/busybox"))
	st, err := s.extract(b, extractOptions{Root: extIsRoot()})
	if err != nil {
		t.Fatal(err)
	}
	f := extLstat(t, filepath.Join(s.root, "a/f"))
	for _, p := range []string{"b/g", "h"} {
		if g := extLstat(t, filepath.Join(s.root, p)); g.Ino != f.Ino {
			t.Errorf("%s: inode %d, want a/f's %d", p, g.Ino, f.Ino)
		}
	}
	if f.Nlink != 3 {
		t.Errorf("a/f: %d links, want 3", f.Nlink)
	}
	extWantLink(t, filepath.Join(s.root, "abs"), "/etc/passwd")
	extWantLink(t, filepath.Join(s.root, "rel"), "../x/y")
	extWantLink(t, filepath.Join(s.root, "bin/sh"), "/bin/busybox")
	if st.Files != 1 || st.Links != 5 || st.Bytes != 4 {
		t.Errorf("stats %+v, want 1 file, 5 links, 4 bytes", st)
	}
}

// TestExtractMetadata: modes (setuid as root only), owners, nanosecond
// mtimes and atimes, dir times set after their content, kept and dropped
// xattrs, fifos.
func TestExtractMetadata(t *testing.T) {
	extNeedsRoot(t)
	mtime := time.Unix(1600000000, 987654321)
	atime := time.Unix(1500000000, 5)
	file := extReg("d/suid", "x")
	file.Mode, file.Uid, file.Gid, file.ModTime, file.AccessTime = 0o4755, 1234, 5678, mtime, atime
	file.PAXRecords = map[string]string{
		"SCHILY.xattr.user.note":           "hello",
		"SCHILY.xattr.security.capability": extCapNetRaw(),
		"SCHILY.xattr.security.selinux":    "system_u:object_r:bin_t:s0",
		"SCHILY.xattr.trusted.overlay.x":   "y",
		"SCHILY.xattr.trusted.pipe":        "t",
	}
	dir := extDir("d/")
	dir.Mode, dir.Uid, dir.Gid, dir.ModTime = 0o2750, 42, 43, mtime
	tmp := extDir("tmp/")
	tmp.Mode = 0o1777
	fifo := extNode(tar.TypeFifo, "d/fifo", 0, 0)
	fifo.Mode, fifo.Uid, fifo.ModTime = 0o640, 7, mtime
	sym := extSym("d/sym", "suid")
	sym.Uid, sym.Gid, sym.ModTime = 11, 12, mtime
	b := extTar(t, dir, file, tmp, fifo, sym, extReg("d/later", "written after d's entry"))

	for _, root := range []bool{true, false} {
		s := newExtSandbox(t)
		if _, err := s.extract(b, extractOptions{Root: root}); err != nil {
			t.Fatal(err)
		}
		p := func(n string) string { return filepath.Join(s.root, n) }
		fst, dst := extLstat(t, p("d/suid")), extLstat(t, p("d"))
		wantFileMode, wantDirMode := uint32(0o4755), uint32(0o2750)
		own := func(id uint32) uint32 { return map[bool]uint32{true: id}[root] }
		wantXattrs := "[security.capability=" + extCapNetRaw() + " trusted.pipe=t user.note=hello]"
		if !root {
			wantFileMode, wantDirMode, wantXattrs = 0o755, 0o750, "[user.note=hello]"
		}
		extWantStat(t, "d/suid", fst, unix.S_IFREG|wantFileMode, own(1234), mtime)
		extWantStat(t, "d", dst, unix.S_IFDIR|wantDirMode, own(42), mtime)
		extWantStat(t, "tmp", extLstat(t, p("tmp")), unix.S_IFDIR|0o1777, 0, extEpoch)
		extWantStat(t, "d/fifo", extLstat(t, p("d/fifo")), unix.S_IFIFO|0o640, own(7), mtime)
		extWantStat(t, "d/sym", extLstat(t, p("d/sym")), unix.S_IFLNK|0o777, own(11), mtime)
		if fst.Atim.Sec != atime.Unix() || fst.Atim.Nsec != 5 {
			t.Errorf("d/suid atime %v, want %v", fst.Atim, atime)
		}
		if got := strings.Join(extXattrs(t, p("d/suid")), " "); "["+got+"]" != wantXattrs {
			t.Errorf("root=%v: d/suid xattrs [%s], want %s", root, got, wantXattrs)
		}
		s.checkOutside(t)
	}
}

func extWantStat(t *testing.T, name string, st *unix.Stat_t, mode, uid uint32, mtime time.Time) {
	t.Helper()
	if st.Mode != mode || st.Uid != uid || st.Mtim.Sec != mtime.Unix() || st.Mtim.Nsec != int64(mtime.Nanosecond()) {
		t.Errorf("%s: mode %o uid %d mtime %d.%09d; want mode %o uid %d mtime %d.%09d",
			name, st.Mode, st.Uid, st.Mtim.Sec, st.Mtim.Nsec, mode, uid, mtime.Unix(), mtime.Nanosecond())
	}
}

// TestExtractReplace: a later entry replaces an earlier one (a file, a dir
// and its tree, a symlink, without following it); a dir over a dir only
// updates its metadata and keeps its content.
func TestExtractReplace(t *testing.T) {
	s := newExtSandbox(t)
	d2 := extDir("d/")
	d2.Mode = 0o700
	b := extTar(t,
		extReg("f", "first"), extReg("f", "second"),
		extDir("x/"), extReg("x/deep/file", "z"), extReg("x", "now a file"),
		extReg("y", "file"), extDir("y/"), extReg("y/in", "i"),
		extSym("s", "f"), extReg("s", "no longer a link"),
		extDir("d/"), extReg("d/keep", "k"), d2,
	)
	if _, err := s.extract(b, extractOptions{Root: extIsRoot()}); err != nil {
		t.Fatal(err)
	}
	extWantFile(t, filepath.Join(s.root, "f"), "second")
	extWantFile(t, filepath.Join(s.root, "x"), "now a file")
	extWantFile(t, filepath.Join(s.root, "y/in"), "i")
	extWantFile(t, filepath.Join(s.root, "s"), "no longer a link")
	extWantFile(t, filepath.Join(s.root, "d/keep"), "k")
	if st := extLstat(t, filepath.Join(s.root, "d")); st.Mode&0o7777 != 0o700 {
		t.Errorf("d: mode %o, want the later entry's 0700", st.Mode&0o7777)
	}
	s.checkOutside(t)
}

// TestExtractDevicesAllowed: with AllowDevices (as root) device nodes are made.
func TestExtractDevicesAllowed(t *testing.T) {
	extNeedsRoot(t)
	s := newExtSandbox(t)
	b := extTar(t, extNode(tar.TypeChar, "dev/null", 1, 3), extNode(tar.TypeBlock, "dev/loopx", 7, 200))
	if _, err := s.extract(b, extractOptions{Root: true, AllowDevices: true}); err != nil {
		t.Fatal(err)
	}
	if st := extLstat(t, filepath.Join(s.root, "dev/null")); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("dev/null: mode %o rdev %x", st.Mode, st.Rdev)
	}
	if st := extLstat(t, filepath.Join(s.root, "dev/loopx")); st.Mode&unix.S_IFMT != unix.S_IFBLK || st.Rdev != unix.Mkdev(7, 200) {
		t.Errorf("dev/loopx: mode %o rdev %x", st.Mode, st.Rdev)
	}
}

// TestExtractSparse: GNU tar sparse files (PAX and old GNU formats) come out
// with their full content.
func TestExtractSparse(t *testing.T) {
	tarBin, err := exec.LookPath("tar")
	if err != nil {
		t.Skip("no tar binary to make a sparse archive")
	}
	src := t.TempDir()
	f, err := os.Create(filepath.Join(src, "sparse"))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("head"), 0)
	f.WriteAt([]byte("tail"), 10<<20)
	f.Close()
	for _, format := range []string{"posix", "gnu"} {
		out, err := exec.Command(tarBin, "--sparse", "--format="+format, "-C", src, "-cf", "-", "sparse").Output()
		if err != nil {
			t.Fatal(err)
		}
		s := newExtSandbox(t)
		if _, err := s.extract(out, extractOptions{Root: extIsRoot()}); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		got, err := os.ReadFile(filepath.Join(s.root, "sparse"))
		if err != nil || len(got) != 10<<20+4 || string(got[:4]) != "head" || string(got[10<<20:]) != "tail" || bytes.Count(got, []byte{0}) != 10<<20-4 {
			t.Fatalf("%s: sparse file: %d bytes, %v", format, len(got), err)
		}
	}
}

// TestExtractErrors: a truncated stream, garbage, a file used as a dir, a
// cancelled context and a missing staging dir give a *LayerError.
func TestExtractErrors(t *testing.T) {
	b := extTar(t, extReg("a", strings.Repeat("x", 5000)), extReg("b", "y"))
	s := newExtSandbox(t)
	_, err := s.extract(b[:2000], extractOptions{Layer: "sha256:0123"})
	if le := extLayerError(t, err); le.Entry != "a" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated: %v (entry %q)", err, le.Entry)
	}
	_, err = s.extract([]byte("not a tar at all, just some text that is long enough............................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................................."), extractOptions{Layer: "sha256:0123"})
	if le := extLayerError(t, err); le.Layer != "sha256:0123" || !strings.Contains(err.Error(), "read the layer tar") {
		t.Errorf("garbage: %v", err)
	}
	_, err = newExtSandbox(t).extract(extTar(t, extReg("f", "x"), extReg("f/g", "y")), extractOptions{})
	if le := extLayerError(t, err); le.Entry != "f/g" || !strings.Contains(err.Error(), `"f" is not a directory`) {
		t.Errorf("file as a parent: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = extractLayer(ctx, bytes.NewReader(b), t.TempDir(), extractOptions{})
	if extLayerError(t, err); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	_, err = extractLayer(context.Background(), bytes.NewReader(b), filepath.Join(t.TempDir(), "missing"), extractOptions{})
	if extLayerError(t, err); !errors.Is(err, unix.ENOENT) {
		t.Errorf("missing dir: %v", err)
	}
}

// extWatchReader fails the test if it is read after extractLayer returned.
type extWatchReader struct {
	t        *testing.T
	r        io.Reader
	returned atomic.Bool
	n        atomic.Int64
}

func (w *extWatchReader) Read(p []byte) (int, error) {
	if w.returned.Load() {
		w.t.Error("the layer stream was read after extractLayer returned")
	}
	n, err := w.r.Read(p)
	w.n.Add(int64(n))
	return n, err
}

// TestExtractStopsReading: after a refused entry extractLayer returns
// without reading the rest of the stream, and never reads it afterwards
// (the store hashes and closes the stream once extractLayer is back).
func TestExtractStopsReading(t *testing.T) {
	big := extReg("big", strings.Repeat("x", 24<<20))
	b := extTar(t, extReg("../evil", "x"), big)
	w := &extWatchReader{t: t, r: bytes.NewReader(b)}
	_, err := extractLayer(t.Context(), w, t.TempDir(), extractOptions{})
	w.returned.Store(true)
	if !errors.Is(err, errUnsafeLayer) {
		t.Fatalf("want the refusal, got %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	if n := w.n.Load(); n > 12<<20 {
		t.Errorf("read %d bytes of the stream after the first entry was refused", n)
	}
}
