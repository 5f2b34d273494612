//go:build linux

package cache

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// extNeedsRoot skips a test unless PIPE_TEST_ROOT=1, and then fails it if
// we are not root after all.
func extNeedsRoot(t testing.TB) {
	t.Helper()
	if os.Getenv("PIPE_TEST_ROOT") != "1" {
		t.Skip("needs root: set PIPE_TEST_ROOT=1")
	}
	if os.Geteuid() != 0 {
		t.Fatal("PIPE_TEST_ROOT=1 but not running as root")
	}
}

// extEpoch is the mtime of generated entries.
var extEpoch = time.Unix(1700000000, 123456789)

// extEntry is one generated tar entry.
type extEntry struct {
	tar.Header
	Body string
}

func extReg(name, body string) extEntry {
	return extEntry{Header: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}, Body: body}
}

func extDir(name string) extEntry {
	return extEntry{Header: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}

func extSym(name, target string) extEntry {
	return extEntry{Header: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

func extLink(name, target string) extEntry {
	return extEntry{Header: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644}}
}

func extNode(typ byte, name string, major, minor int64) extEntry {
	return extEntry{Header: tar.Header{Typeflag: typ, Name: name, Mode: 0o600, Devmajor: major, Devminor: minor}}
}

// extTar builds an uncompressed tar (PAX, mtimes extEpoch unless set).
func extTar(t testing.TB, ents ...extEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.Header
		if h.ModTime.IsZero() {
			h.ModTime = extEpoch
		}
		h.Format = tar.FormatPAX
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("tar header %q: %v", h.Name, err)
		}
		if _, err := tw.Write([]byte(e.Body)); err != nil {
			t.Fatalf("tar body %q: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// extSandbox is a layer root with a sentinel tree around it:
// base/outside/sentinel (the target of every escape attempt) and
// base/l1/l2/l3/root (the layer root, three levels down so that names with
// up to three ".." would land inside base, where the check sees them).
type extSandbox struct {
	base, root, outside string
	before              string
}

func newExtSandbox(t testing.TB) *extSandbox {
	t.Helper()
	return extSandboxAt(t, t.TempDir())
}

// extSandboxAt makes the sandbox tree in base.
func extSandboxAt(t testing.TB, base string) *extSandbox {
	t.Helper()
	s := &extSandbox{base: base, root: filepath.Join(base, "l1/l2/l3/root"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{s.root, s.outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.outside, "sentinel"), []byte("original"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(s.outside, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	s.before = s.snapshot(t)
	return s
}

// reset empties the root for the next extraction.
func (s *extSandbox) reset(t testing.TB) {
	t.Helper()
	if err := os.RemoveAll(s.root); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(s.root, 0o755); err != nil {
		t.Fatal(err)
	}
}

// extFastDir is a temporary dir on tmpfs (/dev/shm) when there is one:
// creating and deleting many files there does not hit the slow inode reuse
// of the project machines' disk (MACHINE.md).
func extFastDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("/dev/shm", "pipe-cache-test-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// extract runs extractLayer on b into the sandbox root.
func (s *extSandbox) extract(b []byte, opts extractOptions) (extractStats, error) {
	return extractLayer(context.Background(), bytes.NewReader(b), s.root, opts)
}

// checkOutside fails the test if anything outside the root changed.
func (s *extSandbox) checkOutside(t testing.TB) {
	t.Helper()
	if after := s.snapshot(t); after != s.before {
		t.Fatalf("extraction changed the tree outside the layer root:\nbefore:\n%s\nafter:\n%s", s.before, after)
	}
}

// snapshot describes everything under base but the root: type, mode, owner,
// size, content digest, link target, xattrs, times.
func (s *extSandbox) snapshot(t testing.TB) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(s.base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == s.root {
			return filepath.SkipDir
		}
		line := extDescribe(t, s.base, p)
		if p == filepath.Dir(s.root) {
			line = p // reset changes its mtime; its entries are checked one by one
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// extDescribe is one line about p: its kind, metadata and content.
func extDescribe(t testing.TB, base, p string) string {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(base, p)
	line := fmt.Sprintf("%s mode=%o uid=%d gid=%d size=%d mtime=%d.%d xattrs=%v",
		rel, st.Mode, st.Uid, st.Gid, st.Size, st.Mtim.Sec, st.Mtim.Nsec, extXattrs(t, p))
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		line += fmt.Sprintf(" sha256=%x", sha256.Sum256(b))
	case unix.S_IFLNK:
		target, _ := os.Readlink(p)
		line += " -> " + target
	case unix.S_IFDIR:
		// The dir's mtime covers entries added or removed.
	}
	return line
}

// extXattrs lists name=value of every xattr of p, sorted.
func extXattrs(t testing.TB, p string) []string {
	t.Helper()
	names, err := listXattrs(p)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		v, err := getXattr(p, n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n+"="+v)
	}
	sort.Strings(out)
	return out
}

// extLayerError asserts err is a *LayerError and returns it.
func extLayerError(t testing.TB, err error) *LayerError {
	t.Helper()
	var le *LayerError
	if !errors.As(err, &le) {
		t.Fatalf("error %v (%T) is not a *LayerError", err, err)
	}
	return le
}

// extLstat stats p without following it, failing the test if it is missing.
func extLstat(t testing.TB, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("lstat %s: %v", p, err)
	}
	return &st
}

// extIsRoot is the Root option matching the test process.
func extIsRoot() bool { return os.Geteuid() == 0 }
