//go:build linux

package cache

import (
	"archive/tar"
	"bytes"
	"context"
	"strings"
	"testing"
)

// FuzzApplyLayer feeds ApplyLayer layers made of dangerous pieces (the
// vocabulary of FuzzExtractEntries: "..", absolute paths to the outside dir,
// whiteouts, opaque markers, names reused as dirs, files and symlinks),
// applied onto a tree whose earlier layer left symlinks pointing out. The
// property: no panic, nothing outside the root changes, every error is a
// *LayerError naming an entry or the tar stream. Seeds: the crafted
// breakout layers of both the extractor and ApplyLayer.
func FuzzApplyLayer(f *testing.F) {
	f.Add([]byte{2, 0, 7, 0, 1, 0, 0})
	f.Add([]byte{2, 1, 8, 0, 0, 11, 0, 3, 2, 1, 3, 2, 6})
	f.Add([]byte{0, 20, 0, 0, 21, 0, 3, 22, 9, 0, 23, 1})
	s := extSandboxAt(f, extFastDir(f))
	vocab := []string{"a", "b", "a/b", "a/b/c", "..", ".", "/", "/a", extUp + "outside", s.outside,
		s.outside + "/sentinel", "a/../..", ".wh.a", "a/.wh.b", ".wh..wh..opq", "a/.wh..wh..opq", ".wh..wh.plnk", "sentinel", "dir", "a/" + extUp,
		"out", "out/sentinel", "up/sentinel", ".wh.out", "out/.wh..wh..opq", "/etc/passwd", ".wh.."}
	types := []byte{tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo, tar.TypeChar, tar.TypeBlock}
	f.Fuzz(func(t *testing.T, b []byte) {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for n := 0; len(b) >= 3 && n < 64; b, n = b[3:], n+1 {
			name := vocab[int(b[1])%len(vocab)]
			if b[1] >= byte(len(vocab)) {
				name += "/" + vocab[int(b[1]/byte(len(vocab)))%len(vocab)]
			}
			h := tar.Header{Typeflag: types[int(b[0])%len(types)], Name: name, Mode: int64(b[0]) << 4, Format: tar.FormatPAX}
			h.Linkname = vocab[int(b[2])%len(vocab)]
			body := ""
			if h.Typeflag == tar.TypeReg {
				body = h.Linkname
				h.Size = int64(len(body))
			}
			if tw.WriteHeader(&h) != nil {
				return // a name tar cannot encode
			}
			tw.Write([]byte(body))
		}
		tw.Close()
		s.reset(t)
		mustApply(t, s.root, hostileLower(s)...)
		err := applyLayer(context.Background(), bytes.NewReader(buf.Bytes()), s.root, extractOptions{Root: extIsRoot(), MaxEntries: 1000, MaxSize: 1 << 20})
		if err != nil {
			le := extLayerError(t, err)
			if le.Entry == "" && !strings.Contains(err.Error(), "read the layer tar") {
				t.Fatalf("error names no entry: %v", err)
			}
		}
		s.checkOutside(t)
	})
}

// FuzzApplyLayerBytes feeds arbitrary bytes; same property.
func FuzzApplyLayerBytes(f *testing.F) {
	f.Add(extRichLayer(f))
	s := extSandboxAt(f, extFastDir(f))
	for _, c := range applyBreakouts() {
		f.Add(extTar(f, c.entries(s.outside, extUp)...))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s.reset(t)
		mustApply(t, s.root, hostileLower(s)...)
		err := applyLayer(context.Background(), bytes.NewReader(b), s.root, extractOptions{Root: extIsRoot(), MaxEntries: 1000, MaxSize: 1 << 20})
		if err != nil {
			le := extLayerError(t, err)
			if le.Entry == "" && !strings.Contains(err.Error(), "read the layer tar") {
				t.Fatalf("error names no entry: %v", err)
			}
		}
		s.checkOutside(t)
	})
}
