//go:build linux

package cache

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// applyTo applies the entries as one layer onto the tree root.
func applyTo(t testing.TB, root string, ents ...extEntry) error {
	t.Helper()
	return applyLayer(context.Background(), bytes.NewReader(extTar(t, ents...)), root, extractOptions{Root: extIsRoot()})
}

func mustApply(t testing.TB, root string, ents ...extEntry) {
	t.Helper()
	if err := applyTo(t, root, ents...); err != nil {
		t.Fatalf("apply: %v", err)
	}
}

// wantAbsent fails unless nothing has the name p.
func wantAbsent(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Errorf("%s: want it gone, lstat says %v", p, err)
	}
}

func TestApplyLayerOntoTree(t *testing.T) {
	root := t.TempDir()
	mustApply(t, root,
		extDir("keep/"), extReg("keep/a", "a1"), extReg("keep/b", "b1"),
		extDir("gone/"), extReg("gone/x", "x"), extDir("gone/sub/"), extReg("gone/sub/y", "y"),
		extDir("opq/"), extReg("opq/old", "old"), extDir("opq/olddir/"), extReg("opq/olddir/z", "z"),
		extReg("file2dir", "f"), extDir("dir2file/"), extReg("dir2file/c", "c"),
		extReg("lower", "shared"), extSym("ln", "keep/a"),
	)
	mustApply(t, root,
		extReg("keep/.wh.b", ""),
		extReg(".wh.gone", ""),
		extReg("opq/new", "new"), // written before the marker: this layer's, kept
		extReg("opq/.wh..wh..opq", ""),
		extDir("opq/newdir/"),
		extDir("file2dir/"), extReg("file2dir/inside", "i"),
		extReg("dir2file", "now a file"),
		extLink("hl", "lower"), // a hardlink to a lower layer's file
		extReg("ln", "replaces the symlink"),
		extReg(".wh.never-existed", ""),
		extReg("missing/.wh.x", ""), // a whiteout in a dir no layer made: nothing to do
		extReg(".wh..wh.plnk", ""),  // aufs metadata: skipped
	)
	extWantFile(t, filepath.Join(root, "keep/a"), "a1")
	wantAbsent(t, filepath.Join(root, "keep/b"))
	wantAbsent(t, filepath.Join(root, "gone"))
	extWantFile(t, filepath.Join(root, "opq/new"), "new")
	wantAbsent(t, filepath.Join(root, "opq/old"))
	wantAbsent(t, filepath.Join(root, "opq/olddir"))
	if fi, err := os.Stat(filepath.Join(root, "opq/newdir")); err != nil || !fi.IsDir() {
		t.Errorf("opq/newdir: %v", err)
	}
	extWantFile(t, filepath.Join(root, "file2dir/inside"), "i")
	extWantFile(t, filepath.Join(root, "dir2file"), "now a file")
	extWantFile(t, filepath.Join(root, "ln"), "replaces the symlink")
	extWantFile(t, filepath.Join(root, "keep/a"), "a1")
	if extLstat(t, filepath.Join(root, "hl")).Ino != extLstat(t, filepath.Join(root, "lower")).Ino {
		t.Error("hl is not a hardlink of the lower layer's file")
	}
	wantAbsent(t, filepath.Join(root, "missing"))
	for _, p := range []string{".wh.never-existed", ".wh..wh.plnk", "opq/.wh..wh..opq"} {
		wantAbsent(t, filepath.Join(root, p))
	}
}

func TestApplyLayerModesAndTimes(t *testing.T) {
	root := t.TempDir()
	f := extReg("bin/tool", "#!/bin/sh\n")
	f.Mode = 0o4755
	d := extDir("bin/")
	d.Mode = 0o750
	mustApply(t, root, d, f)
	st := extLstat(t, filepath.Join(root, "bin/tool"))
	want := uint32(0o755)
	if extIsRoot() {
		want = 0o4755
	}
	if st.Mode&0o7777 != want {
		t.Errorf("mode %o, want %o", st.Mode&0o7777, want)
	}
	if st.Mtim.Sec != extEpoch.Unix() || st.Mtim.Nsec != int64(extEpoch.Nanosecond()) {
		t.Errorf("mtime %v, want %v", st.Mtim, extEpoch)
	}
	if dst := extLstat(t, filepath.Join(root, "bin")); dst.Mode&0o777 != 0o750 || dst.Mtim.Sec != extEpoch.Unix() {
		t.Errorf("dir mode %o mtime %v", dst.Mode&0o777, dst.Mtim)
	}
}

func TestApplyLayerOwnersAsRoot(t *testing.T) {
	extNeedsRoot(t)
	root := t.TempDir()
	f := extReg("f", "x")
	f.Uid, f.Gid = 1234, 5678
	s := extSym("s", "f")
	s.Uid, s.Gid = 42, 43
	mustApply(t, root, f, s)
	if st := extLstat(t, filepath.Join(root, "f")); st.Uid != 1234 || st.Gid != 5678 {
		t.Errorf("f owned by %d:%d", st.Uid, st.Gid)
	}
	if st := extLstat(t, filepath.Join(root, "s")); st.Uid != 42 || st.Gid != 43 {
		t.Errorf("s owned by %d:%d", st.Uid, st.Gid)
	}
}

// applyBreakouts are crafted layers applied onto a tree that already holds
// what an earlier, hostile layer could have left: a symlink to the outside
// dir, a symlink climbing up to it, and a file.
func applyBreakouts() []extBreakout {
	return []extBreakout{
		{name: "DotDotName", wantErr: "path escapes the layer root",
			entries: func(out, up string) []extEntry { return []extEntry{extReg(up+"outside/sentinel", "pwned")} }},
		{name: "AbsoluteNameStaysInside",
			entries: func(out, up string) []extEntry { return []extEntry{extReg(out+"/sentinel", "inside")} },
			check: func(t *testing.T, s *extSandbox) {
				extWantFile(t, filepath.Join(s.root, strings.TrimPrefix(s.outside, "/"), "sentinel"), "inside")
			}},
		{name: "WriteThroughLowerSymlink", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry { return []extEntry{extReg("out/sentinel", "pwned")} }},
		{name: "WriteThroughLowerRelativeSymlink", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry { return []extEntry{extReg("up/sentinel", "pwned")} }},
		{name: "DirThroughLowerSymlink", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry { return []extEntry{extDir("out/dir/new/")} }},
		{name: "SymlinkThenFileThroughIt", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry {
				return []extEntry{extSym("new", out), extReg("new/sentinel", "pwned")}
			}},
		{name: "WhiteoutThroughLowerSymlink", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry { return []extEntry{extReg("out/.wh.sentinel", "")} }},
		{name: "OpaqueThroughLowerSymlink", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry { return []extEntry{extReg("out/.wh..wh..opq", "")} }},
		{name: "WhiteoutOfTheSymlinkRemovesOnlyIt",
			entries: func(out, up string) []extEntry { return []extEntry{extReg(".wh.out", "")} },
			check:   func(t *testing.T, s *extSandbox) { wantAbsent(t, filepath.Join(s.root, "out")) }},
		{name: "OpaqueRootKeepsOutside",
			entries: func(out, up string) []extEntry { return []extEntry{extReg(".wh..wh..opq", "")} },
			check:   func(t *testing.T, s *extSandbox) { wantAbsent(t, filepath.Join(s.root, "out")) }},
		{name: "WhiteoutOfDotDot", wantErr: "whiteout names no file",
			entries: func(out, up string) []extEntry { return []extEntry{extReg(".wh..", "")} }},
		{name: "WhiteoutOfDotDotInDir", wantErr: "whiteout names no file",
			entries: func(out, up string) []extEntry { return []extEntry{extReg("file/.wh..", "")} }},
		{name: "WhiteoutEscapes", wantErr: "path escapes the layer root",
			entries: func(out, up string) []extEntry { return []extEntry{extReg(up+"outside/.wh.sentinel", "")} }},
		{name: "WhiteoutEscapesAfterCleaning", wantErr: "path escapes the layer root",
			entries: func(out, up string) []extEntry { return []extEntry{extReg("a/../../.wh.outside", "")} }},
		{name: "HardlinkToEtcPasswd", wantErr: "is not in the tree",
			entries: func(out, up string) []extEntry { return []extEntry{extLink("h", "/etc/passwd")} }},
		{name: "HardlinkAbsoluteOutIsInside", wantErr: "is not in the tree",
			entries: func(out, up string) []extEntry { return []extEntry{extLink("h", out+"/sentinel")} }},
		{name: "HardlinkRelativeOut", wantErr: "path escapes the layer root",
			entries: func(out, up string) []extEntry { return []extEntry{extLink("h", up+"outside/sentinel")} }},
		{name: "HardlinkThroughLowerSymlink", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry { return []extEntry{extLink("h", "out/sentinel")} }},
		{name: "HardlinkToLowerSymlinkIsTheSymlink",
			entries: func(out, up string) []extEntry { return []extEntry{extLink("h", "out")} },
			check: func(t *testing.T, s *extSandbox) {
				extWantLink(t, filepath.Join(s.root, "h"), s.outside)
			}},
		{name: "HardlinkToDir", wantErr: "is a directory",
			entries: func(out, up string) []extEntry { return []extEntry{extDir("d/"), extLink("h", "d")} }},
		{name: "HardlinkToRoot", wantErr: "is not in the tree",
			entries: func(out, up string) []extEntry { return []extEntry{extLink("h", ".")} }},
		{name: "HardlinkAsRoot", wantErr: "replaces the layer root",
			entries: func(out, up string) []extEntry { return []extEntry{extLink(".", "file")} }},
		{name: "DeviceRefused", wantErr: "char device 1:3 refused",
			entries: func(out, up string) []extEntry { return []extEntry{extNode(tar.TypeChar, "null", 1, 3)} }},
		{name: "WhiteoutDeviceRefused", wantErr: "char device 0:0 refused",
			entries: func(out, up string) []extEntry { return []extEntry{extNode(tar.TypeChar, "file", 0, 0)} }},
		{name: "BlockDeviceRefused", wantErr: "block device 8:0 refused",
			entries: func(out, up string) []extEntry { return []extEntry{extNode(tar.TypeBlock, "sda", 8, 0)} }},
		{name: "RootReplacedBySymlink", wantErr: "replaces the layer root",
			entries: func(out, up string) []extEntry { return []extEntry{extSym(".", out)} }},
	}
}

// hostileLower is what the lower layers of the breakout tree hold.
func hostileLower(s *extSandbox) []extEntry {
	return []extEntry{extSym("out", s.outside), extSym("up", extUp+"outside"), extReg("file", "f")}
}

func TestApplyLayerBreakouts(t *testing.T) {
	for _, c := range applyBreakouts() {
		t.Run(c.name, func(t *testing.T) {
			s := newExtSandbox(t)
			mustApply(t, s.root, hostileLower(s)...)
			err := applyTo(t, s.root, c.entries(s.outside, extUp)...)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("want the entry neutralised, got error: %v", err)
			case c.wantErr != "" && err == nil:
				t.Fatalf("want an error containing %q, got none", c.wantErr)
			case c.wantErr != "":
				if le := extLayerError(t, err); !strings.Contains(err.Error(), c.wantErr) || le.Entry == "" {
					t.Fatalf("want a *LayerError naming the entry and saying %q, got: %v", c.wantErr, err)
				}
			}
			s.checkOutside(t)
			if c.check != nil {
				c.check(t, s)
			}
		})
	}
}

// TestApplyLayerExtractorBreakouts runs the extractor's crafted layers
// through ApplyLayer: whatever each one gives, nothing outside changes.
func TestApplyLayerExtractorBreakouts(t *testing.T) {
	for _, c := range extBreakouts() {
		t.Run(c.name, func(t *testing.T) {
			s := newExtSandbox(t)
			mustApply(t, s.root, hostileLower(s)...)
			err := applyLayer(context.Background(), bytes.NewReader(extTar(t, c.entries(s.outside, extUp)...)), s.root, c.opts)
			if err != nil {
				extLayerError(t, err)
			}
			s.checkOutside(t)
		})
	}
}

func TestApplyLayerBadStream(t *testing.T) {
	root := t.TempDir()
	b := extTar(t, extReg("a", strings.Repeat("x", 4096)))
	err := ApplyLayer(context.Background(), bytes.NewReader(b[:2000]), root)
	if err == nil {
		t.Fatal("a truncated layer applied without error")
	}
	extLayerError(t, err)
	if err := ApplyLayer(context.Background(), bytes.NewReader(b), filepath.Join(root, "missing")); err == nil ||
		!strings.Contains(err.Error(), "open the tree") {
		t.Errorf("apply onto a missing dir: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ApplyLayer(ctx, bytes.NewReader(b), root); err == nil {
		t.Error("apply with a canceled context succeeded")
	}
}
