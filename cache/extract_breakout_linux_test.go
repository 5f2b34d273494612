//go:build linux

package cache

import (
	"archive/tar"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// extBreakout is one crafted layer that tries to write outside its root, in
// the spirit of containerd's TestBreakouts. out is the sandbox's outside dir
// (absolute); up climbs from the root to base, so up+"outside" is out.
type extBreakout struct {
	name    string
	entries func(out, up string) []extEntry
	opts    extractOptions
	wantErr string                            // substring of the error; "" for a neutralised entry
	check   func(t *testing.T, s *extSandbox) // what must hold inside the root
}

const extUp = "../../../../"

// extBreakouts are the crafted layers; every one must leave base untouched.
func extBreakouts() []extBreakout {
	return []extBreakout{
		{name: "DotDotName", wantErr: "path escapes the layer root",
			entries: func(out, up string) []extEntry { return []extEntry{extReg(up+"outside/sentinel", "pwned")} }},
		{name: "DotDotInMiddle", wantErr: "path escapes the layer root",
			entries: func(out, up string) []extEntry { return []extEntry{extReg("a/../../evil", "pwned")} }},
		{name: "AbsoluteDotDot", wantErr: "path escapes the layer root",
			entries: func(out, up string) []extEntry { return []extEntry{extReg("/../evil", "pwned")} }},
		{name: "AbsoluteNameStaysInside",
			entries: func(out, up string) []extEntry { return []extEntry{extReg(out+"/sentinel", "inside")} },
			check: func(t *testing.T, s *extSandbox) {
				extWantFile(t, filepath.Join(s.root, strings.TrimPrefix(s.outside, "/"), "sentinel"), "inside")
			}},
		{name: "SymlinkAbsoluteThenWrite", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry {
				return []extEntry{extDir("dir/"), extSym("dir/link", out), extReg("dir/link/sentinel", "pwned")}
			}},
		{name: "SymlinkUpAndOutThenWrite", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry {
				return []extEntry{extSym("link", up+"outside"), extReg("link/new", "pwned")}
			}},
		{name: "SymlinkToParentThenWrite", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry { return []extEntry{extSym("a", ".."), extReg("a/evil", "pwned")} }},
		{name: "SymlinkChainThenWrite", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry {
				return []extEntry{extSym("a", "b"), extSym("b", out), extReg("a/dir/new", "pwned")}
			}},
		{name: "SymlinkThenDir", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry { return []extEntry{extSym("link", out), extDir("link/dir/")} }},
		{name: "SymlinkThenSymlink", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry { return []extEntry{extSym("link", out), extSym("link/new", "/x")} }},
		{name: "SymlinkThenFifo", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry {
				return []extEntry{extSym("link", out), extNode(tar.TypeFifo, "link/fifo", 0, 0)}
			}},
		{name: "DirReplacedBySymlinkThenWrite", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry {
				return []extEntry{extDir("d/"), extReg("d/f", "x"), extSym("d", out), extReg("d/sentinel", "pwned")}
			}},
		{name: "SymlinkOverwritesFileNotTarget",
			entries: func(out, up string) []extEntry {
				return []extEntry{extSym("f", out+"/sentinel"), extReg("f", "replaced")}
			},
			check: func(t *testing.T, s *extSandbox) { extWantFile(t, filepath.Join(s.root, "f"), "replaced") }},
		{name: "SymlinkDanglingOutKeptVerbatim",
			entries: func(out, up string) []extEntry {
				return []extEntry{extSym("abs", out+"/sentinel"), extSym("rel", up+"outside/sentinel")}
			},
			check: func(t *testing.T, s *extSandbox) {
				extWantLink(t, filepath.Join(s.root, "abs"), s.outside+"/sentinel")
				extWantLink(t, filepath.Join(s.root, "rel"), extUp+"outside/sentinel")
			}},
		{name: "WhiteoutThroughSymlink", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry {
				return []extEntry{extSym("link", out), extReg("link/.wh.sentinel", "")}
			}},
		{name: "OpaqueThroughSymlink", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry {
				return []extEntry{extSym("link", out), extReg("link/.wh..wh..opq", "")}
			}},
		{name: "WhiteoutOfDotDot", wantErr: "whiteout names no file",
			entries: func(out, up string) []extEntry { return []extEntry{extReg(".wh..", "")} }},
		{name: "WhiteoutEscapes", wantErr: "path escapes the layer root",
			entries: func(out, up string) []extEntry { return []extEntry{extReg(up+"outside/.wh.sentinel", "")} }},
		{name: "HardlinkRelativeOut", wantErr: "path escapes the layer root",
			entries: func(out, up string) []extEntry { return []extEntry{extLink("h", up+"outside/sentinel")} }},
		{name: "HardlinkDownAndOut", wantErr: "path escapes the layer root",
			entries: func(out, up string) []extEntry {
				return []extEntry{extDir("dir/"), extLink("dir/h", "dir/"+up+"../outside/sentinel")}
			}},
		{name: "HardlinkAbsoluteOut", wantErr: "not a file extracted earlier in this layer",
			entries: func(out, up string) []extEntry { return []extEntry{extLink("h", out+"/sentinel")} }},
		{name: "HardlinkNotYetExtracted", wantErr: "not a file extracted earlier in this layer",
			entries: func(out, up string) []extEntry { return []extEntry{extLink("h", "later"), extReg("later", "x")} }},
		{name: "HardlinkThroughSymlinkDir", wantErr: "not a file extracted earlier in this layer",
			entries: func(out, up string) []extEntry { return []extEntry{extSym("link", out), extLink("h", "link/sentinel")} }},
		{name: "HardlinkAfterDirBecameSymlink", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry {
				return []extEntry{extReg("d/sentinel", "x"), extSym("d", out), extLink("h", "d/sentinel")}
			}},
		{name: "HardlinkToDir", wantErr: "not a file extracted earlier in this layer",
			entries: func(out, up string) []extEntry { return []extEntry{extDir("d/"), extLink("h", "d")} }},
		{name: "HardlinkToSymlinkOutIsTheSymlink",
			entries: func(out, up string) []extEntry {
				return []extEntry{extSym("s", up+"outside/sentinel"), extLink("h", "s"), extReg("other", "x")}
			},
			check: func(t *testing.T, s *extSandbox) {
				extWantLink(t, filepath.Join(s.root, "h"), extUp+"outside/sentinel")
				if extLstat(t, filepath.Join(s.root, "h")).Ino != extLstat(t, filepath.Join(s.root, "s")).Ino {
					t.Error("the hardlink h is not the symlink s's inode")
				}
			}},
		{name: "HardlinkToSymlinkThenWriteThrough", wantErr: "writes through a symlink",
			entries: func(out, up string) []extEntry {
				return []extEntry{extSym("s", out), extLink("h", "s"), extReg("h/sentinel", "pwned")}
			}},
		{name: "DeviceRefused", wantErr: "char device 1:3 refused",
			entries: func(out, up string) []extEntry { return []extEntry{extNode(tar.TypeChar, "null", 1, 3)} }},
		{name: "BlockDeviceRefused", wantErr: "block device 8:0 refused",
			entries: func(out, up string) []extEntry { return []extEntry{extNode(tar.TypeBlock, "sda", 8, 0)} }},
		{name: "RootReplacedByFile", wantErr: "replaces the layer root",
			entries: func(out, up string) []extEntry { return []extEntry{extReg(".", "x")} }},
		{name: "RootReplacedBySymlink", wantErr: "replaces the layer root",
			entries: func(out, up string) []extEntry { return []extEntry{extSym(".", out)} }},
		{name: "AbsurdEntrySize", wantErr: "exceeds the limit", opts: extractOptions{MaxSize: 10},
			entries: func(out, up string) []extEntry { return []extEntry{extReg("big", "01234567890")} }},
		{name: "AbsurdTotalSize", wantErr: "content exceeds the limit", opts: extractOptions{MaxSize: 10},
			entries: func(out, up string) []extEntry { return []extEntry{extReg("a", "012345"), extReg("b", "012345")} }},
		{name: "TooManyEntries", wantErr: "more than 2 entries", opts: extractOptions{MaxEntries: 2},
			entries: func(out, up string) []extEntry { return []extEntry{extDir("a/"), extDir("b/"), extDir("c/")} }},
		{name: "OverlayXattrNotWritten",
			entries: func(out, up string) []extEntry {
				d := extDir("d/")
				d.PAXRecords = map[string]string{"SCHILY.xattr.trusted.overlay.opaque": "y", "SCHILY.xattr.trusted.overlay.redirect": "/x", "SCHILY.xattr.user.overlay.opaque": "y"}
				return []extEntry{d}
			},
			check: func(t *testing.T, s *extSandbox) {
				if x := extXattrs(t, filepath.Join(s.root, "d")); len(x) != 0 {
					t.Errorf("overlay xattrs from the tar were written: %v", x)
				}
			}},
	}
}

// TestExtractBreakouts extracts each crafted layer and checks (1) the error
// or the neutralisation and (2) that nothing outside the root changed.
func TestExtractBreakouts(t *testing.T) {
	for _, c := range extBreakouts() {
		t.Run(c.name, func(t *testing.T) {
			s := newExtSandbox(t)
			opts := c.opts
			opts.Image, opts.Layer, opts.Root = "evil:latest", "sha256:"+strings.Repeat("ab", 32), extIsRoot()
			_, err := s.extract(extTar(t, c.entries(s.outside, extUp)...), opts)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("want the entry neutralised, got error: %v", err)
			case c.wantErr != "" && err == nil:
				t.Fatalf("want an error containing %q, got none", c.wantErr)
			case c.wantErr != "":
				le := extLayerError(t, err)
				if !strings.Contains(err.Error(), c.wantErr) || le.Entry == "" {
					t.Fatalf("want a *LayerError naming the entry and saying %q, got: %v", c.wantErr, err)
				}
				t.Logf("error: %v", err)
			}
			s.checkOutside(t)
			if c.check != nil {
				c.check(t, s)
			}
		})
	}
}

// TestExtractBreakoutMessage pins the wording users see for a malicious layer.
func TestExtractBreakoutMessage(t *testing.T) {
	s := newExtSandbox(t)
	opts := extractOptions{Image: "alpine:3.20", Layer: "sha256:ab12" + strings.Repeat("0", 60)}
	_, err := s.extract(extTar(t, extReg("../etc/passwd", "x")), opts)
	want := `image alpine:3.20: layer sha256:ab1200000000...: entry "../etc/passwd": path escapes the layer root; the image is malformed or malicious — do not use it`
	if err == nil || err.Error() != want {
		t.Fatalf("got  %v\nwant %s", err, want)
	}
	if !errors.Is(err, errUnsafeLayer) {
		t.Error("the error does not wrap errUnsafeLayer")
	}
	s.checkOutside(t)
}

func extWantFile(t *testing.T, p, body string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil || string(b) != body {
		t.Errorf("%s: got %q, %v; want %q", p, b, err, body)
	}
}

func extWantLink(t *testing.T, p, target string) {
	t.Helper()
	got, err := os.Readlink(p)
	if err != nil || got != target {
		t.Errorf("%s: got symlink to %q, %v; want %q", p, got, err, target)
	}
}
