//go:build linux

package cache

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"

	"github.com/pipe-run/pipe/internal/testimage"
)

// FuzzExtract feeds arbitrary tar streams to extractLayer. The property:
// it never panics, never changes anything outside the layer root, and every
// error is a *LayerError that names an entry or is a tar read error.
// Seeds: every crafted breakout layer, a layer with every kind of entry, and
// the start of the busybox layer. One sandbox (on tmpfs when possible) is
// reused, its root emptied before each input, to keep executions cheap.
func FuzzExtract(f *testing.F) {
	for _, c := range extBreakouts() {
		f.Add(extTar(f, c.entries(extUp+"outside", extUp)...))
	}
	f.Add(extRichLayer(f))
	bb, err := testimage.BusyboxTar()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bb[:min(len(bb), 300<<10)])
	s := extSandboxAt(f, extFastDir(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		s.reset(t)
		opts := extractOptions{Layer: "sha256:fuzz", Root: extIsRoot(), MaxSize: 64 << 20, MaxEntries: 10000}
		_, err := s.extract(b, opts)
		if err != nil {
			le := extLayerError(t, err)
			if le.Entry == "" && !strings.Contains(err.Error(), "read the layer tar") {
				t.Fatalf("error names no entry and is no tar read error: %v", err)
			}
		}
		s.checkOutside(t)
	})
}

// FuzzExtractEntries fuzzes the meaning of a layer rather than its bytes:
// the input is decoded into a sequence of well-formed tar entries whose
// names and link targets come from a vocabulary of dangerous pieces ("..",
// absolute paths to the sandbox's outside dir, whiteout prefixes, names
// reused as dirs, files and symlinks), so that most inputs get past the tar
// checksums and exercise the extractor. Same property as FuzzExtract.
func FuzzExtractEntries(f *testing.F) {
	f.Add([]byte{2, 0, 7, 0, 1, 0, 0})
	f.Add([]byte{2, 1, 8, 0, 0, 11, 0, 3, 2, 1, 3, 2, 6})
	f.Add([]byte{1, 0, 0, 0, 0, 3, 0, 2, 0, 3, 4, 5, 0, 0, 2, 6, 0, 12, 3, 9, 9})
	s := extSandboxAt(f, extFastDir(f))
	vocab := []string{"a", "b", "a/b", "a/b/c", "..", ".", "/", "/a", extUp + "outside", s.outside,
		s.outside + "/sentinel", "a/../..", ".wh.a", "a/.wh.b", ".wh..wh..opq", "a/.wh..wh..opq", ".wh..wh.plnk", "sentinel", "dir", "a/" + extUp}
	types := []byte{tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo, tar.TypeChar, tar.TypeBlock}
	f.Fuzz(func(t *testing.T, b []byte) {
		var ents []extEntry
		for ; len(b) >= 3 && len(ents) < 64; b = b[3:] {
			name := vocab[int(b[1])%len(vocab)]
			if b[1] >= byte(len(vocab)) { // a second piece
				name += "/" + vocab[int(b[1]/byte(len(vocab)))%len(vocab)]
			}
			e := extEntry{Header: tar.Header{Typeflag: types[int(b[0])%len(types)], Name: name, Mode: int64(b[0]) << 4}}
			e.Linkname = vocab[int(b[2])%len(vocab)]
			if e.Typeflag == tar.TypeReg {
				e.Body, e.Size = e.Linkname, int64(len(e.Linkname))
			}
			if e.Typeflag == tar.TypeChar && b[2]%2 == 0 {
				e.Devmajor, e.Devminor = 0, 0
			}
			ents = append(ents, e)
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, e := range ents {
			h := e.Header
			h.Format = tar.FormatPAX
			if tw.WriteHeader(&h) != nil {
				return // a name tar cannot encode
			}
			tw.Write([]byte(e.Body))
		}
		tw.Close()
		s.reset(t)
		opts := extractOptions{Layer: "sha256:fuzz", Root: extIsRoot(), AllowDevices: len(ents)%2 == 0}
		if _, err := s.extract(buf.Bytes(), opts); err != nil {
			if le := extLayerError(t, err); le.Entry == "" {
				t.Fatalf("error names no entry: %v", err)
			}
		}
		s.checkOutside(t)
	})
}
