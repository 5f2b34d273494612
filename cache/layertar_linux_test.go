//go:build linux

package cache

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/pipe-run/pipe/internal/testimage"
	"golang.org/x/sys/unix"
)

// extRichLayer is a layer with every kind of entry layerTar must reproduce,
// every parent dir explicit and names in the order layerTar writes them.
func extRichLayer(t testing.TB) []byte {
	exe := extReg("a/exe", "#!/bin/sh\n")
	exe.Mode, exe.Uid, exe.Gid = 0o4755, 1000, 100
	exe.PAXRecords = map[string]string{"SCHILY.xattr.user.k": "v", "SCHILY.xattr.security.capability": extCapNetRaw()}
	a := extDir("a/")
	a.Mode, a.ModTime = 0o2775, time.Unix(1650000000, 42)
	tmp := extDir("tmp/")
	tmp.Mode = 0o1777
	fifo := extNode(tar.TypeFifo, "a/fifo", 0, 0)
	fifo.Mode = 0o600
	empty := extReg("b/empty", "")
	empty.Mode = 0o666 // more than the umask lets a plain create give
	return extTar(t,
		extReg(".wh.gone", ""),
		a, extReg("a/.wh..wh..opq", ""), exe, fifo, extReg("a/file", strings.Repeat("data", 1000)),
		extLink("a/hard", "a/file"), extSym("a/rel", "../tmp"), extSym("a/zabs", "/etc/passwd"),
		extDir("b/"), extReg("b/.wh.old", ""), empty,
		tmp,
	)
}

// extTarSummary lists a tar's entries, one line each: name, type, mode,
// owner, mtime (not for whiteout markers), link, size, content, xattrs.
func extTarSummary(t testing.TB, b []byte) []string {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var out []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		mtime, mode := fmt.Sprint(h.ModTime.UnixNano()), h.Mode
		if strings.HasPrefix(filepath.Base(h.Name), whiteoutPrefix) {
			mtime, mode = "-", 0 // markers have no metadata of their own
		}
		var xattrs []string
		for k, v := range h.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.") {
				xattrs = append(xattrs, fmt.Sprintf("%s=%q", k, v))
			}
		}
		sort.Strings(xattrs)
		out = append(out, fmt.Sprintf("%s type=%c mode=%o owner=%d:%d mtime=%s link=%q size=%d sha=%x dev=%d:%d %v",
			h.Name, h.Typeflag, mode, h.Uid, h.Gid, mtime, h.Linkname, h.Size, sha256.Sum256(body), h.Devmajor, h.Devminor, xattrs))
	}
}

// extLayerTarBytes reads layerTar(dir) whole.
func extLayerTarBytes(t testing.TB, dir string) []byte {
	t.Helper()
	rc := layerTar(dir)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("layerTar %s: %v", dir, err)
	}
	return b
}

// TestLayerTarRoundTrip: layerTar(extractLayer(x)) lists the same entries as
// x, a second round gives the very same bytes, and the layer is valid.
func TestLayerTarRoundTrip(t *testing.T) {
	extNeedsRoot(t)
	orig := extRichLayer(t)
	d1 := t.TempDir()
	if _, err := extractLayer(t.Context(), bytes.NewReader(orig), d1, extractOptions{Root: true}); err != nil {
		t.Fatal(err)
	}
	t1 := extLayerTarBytes(t, d1)
	if diff := cmp.Diff(extTarSummary(t, orig), extTarSummary(t, t1)); diff != "" {
		t.Errorf("layerTar(extractLayer(x)) differs from x (-x +got):\n%s", diff)
	}
	d2 := t.TempDir()
	if _, err := extractLayer(t.Context(), bytes.NewReader(t1), d2, extractOptions{Root: true}); err != nil {
		t.Fatal(err)
	}
	if t2 := extLayerTarBytes(t, d2); !bytes.Equal(t1, t2) {
		t.Errorf("a second round trip changed the tar bytes:\n%s", cmp.Diff(extTarSummary(t, t1), extTarSummary(t, t2)))
	}
	layer, err := testimage.LayerFromTar(t1)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Layer(layer); err != nil {
		t.Errorf("go-containerregistry rejects the layer: %v", err)
	}
}

// TestLayerTarReproducible: the same dir gives the same bytes, however it
// was made; user and group names and atimes are left out.
func TestLayerTarReproducible(t *testing.T) {
	b, err := testimage.BusyboxTar()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := extractLayer(t.Context(), bytes.NewReader(b), dir, extractOptions{Root: extIsRoot()}); err != nil {
		t.Fatal(err)
	}
	t1 := extLayerTarBytes(t, dir)
	if _, err := os.ReadFile(filepath.Join(dir, "bin/busybox")); err != nil { // moves the atime
		t.Fatal(err)
	}
	if t2 := extLayerTarBytes(t, dir); !bytes.Equal(t1, t2) {
		t.Fatal("two layerTar of the same dir differ")
	}
	want := extTarSummary(t, b)
	got := map[string]bool{}
	for _, l := range extTarSummary(t, t1) {
		got[l] = true
	}
	for _, l := range want {
		if !got[l] {
			t.Errorf("busybox entry lost or changed in the round trip: %s", l)
		}
	}
	tr := tar.NewReader(bytes.NewReader(t1))
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		if h.Uname != "" || h.Gname != "" || !h.AccessTime.IsZero() {
			t.Fatalf("%s: uname %q gname %q atime %v, want none", h.Name, h.Uname, h.Gname, h.AccessTime)
		}
	}
}

// TestLayerTarOverlayForms: the unprivileged forms (user.overlay.opaque,
// xwhiteout files) also become OCI markers, and the overlay's own xattrs
// (origin, impure) never reach the tar, nor do sockets.
func TestLayerTarOverlayForms(t *testing.T) {
	extNeedsRoot(t)
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(filepath.Join(dir, "u"), 0o755))
	must(unix.Setxattr(filepath.Join(dir, "u"), userOpaque, []byte("y"), 0))
	must(os.Mkdir(filepath.Join(dir, "x"), 0o755))
	must(unix.Setxattr(filepath.Join(dir, "x"), userOpaque, []byte("x"), 0))
	must(os.WriteFile(filepath.Join(dir, "x/gone"), nil, 0o644))
	must(unix.Setxattr(filepath.Join(dir, "x/gone"), userWhiteout, []byte("y"), 0))
	must(os.WriteFile(filepath.Join(dir, "f"), []byte("f"), 0o644))
	must(unix.Setxattr(filepath.Join(dir, "f"), "trusted.overlay.origin", []byte("o"), 0))
	must(unix.Setxattr(filepath.Join(dir, "f"), "trusted.overlay.impure", []byte("y"), 0))
	must(unix.Setxattr(filepath.Join(dir, "f"), "user.kept", []byte("k"), 0))
	must(unix.Mknod(filepath.Join(dir, "wh"), unix.S_IFCHR, 0))
	must(os.Symlink("f", filepath.Join(dir, "link")))
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	must(err)
	must(unix.Bind(sock, &unix.SockaddrUnix{Name: filepath.Join(dir, "sock")}))
	unix.Close(sock)
	tr := tar.NewReader(bytes.NewReader(extLayerTarBytes(t, dir)))
	var got []string
	for h, err := tr.Next(); err == nil; h, err = tr.Next() {
		got = append(got, fmt.Sprintf("%s %c %v", h.Name, h.Typeflag, h.PAXRecords))
	}
	want := []string{
		"f 0 map[SCHILY.xattr.user.kept:k mtime:%s]",
		"link 2 map[mtime:%s]",
		"u/ 5 map[mtime:%s]", "u/.wh..wh..opq 0 map[]",
		"x/ 5 map[mtime:%s]", "x/.wh.gone 0 map[]",
		".wh.wh 0 map[]",
	}
	norm := func(s string) string {
		if i := strings.Index(s, "mtime:"); i >= 0 {
			return s[:i] + "mtime:%s]"
		}
		return s
	}
	for i := range got {
		got[i] = norm(got[i])
	}
	sort.Strings(got)
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
}

// TestLayerTarErrors: errors surface on Read (a missing dir, an upper dir
// with a redirected dir); Close stops the writer.
func TestLayerTarErrors(t *testing.T) {
	rc := layerTar(filepath.Join(t.TempDir(), "missing"))
	if _, err := io.ReadAll(rc); !errors.Is(err, unix.ENOENT) {
		t.Errorf("missing dir: Read error %v, want ENOENT", err)
	}
	rc.Close()

	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "moved"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(dir, "moved"), "user.overlay.redirect", []byte("/old"), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(layerTar(dir)); err == nil || !strings.Contains(err.Error(), "redirect_dir=off") {
		t.Errorf("redirected dir: Read error %v, want one about redirect_dir", err)
	}

	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	rc = layerTar(dir)
	if _, err := rc.Read(make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Read(make([]byte, 100)); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Read after Close: %v, want io.ErrClosedPipe", err)
	}
}
