package cache

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testIndexEntries() []TreeEntry {
	return []TreeEntry{
		{Path: "a", Mode: 0o40755, UID: 0, GID: 0, Mtime: 1700000000123456789, Ctime: 1700000001000000000, Ino: 12},
		{Path: "a/f", Mode: 0o100644, UID: 1000, GID: 1000, Size: 1 << 40, Mtime: -5, Ctime: 7, Ino: 1 << 62},
		{Path: "s", Mode: 0o120777, Link: strings.Repeat("x/", 300), Ino: 3},
	}
}

func TestTreeIndexFileRoundTrip(t *testing.T) {
	idx, err := newTreeIndex(testIndexEntries())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "index")
	if err := idx.Save(p); err != nil {
		t.Fatal(err)
	}
	back, err := LoadTreeIndex(p)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(idx.Entries(), back.Entries()); diff != "" {
		t.Errorf("index changed through its file -want +got:\n%s", diff)
	}
	if got := back.childrenOf("a"); !cmp.Equal(got, []string{"f"}) {
		t.Errorf("children of a: %v", got)
	}
	if got := back.childrenOf(""); !cmp.Equal(got, []string{"a", "s"}) {
		t.Errorf("children of the root: %v", got)
	}
}

func TestTreeIndexFileRefused(t *testing.T) {
	idx, _ := newTreeIndex(testIndexEntries())
	var buf bytes.Buffer
	if _, err := idx.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flipped := bytes.Clone(good)
	flipped[len(indexMagic)+5] ^= 0x40
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "unknown version"},
		{"other version", []byte("pipe.treeindex/v2\nxxxx"), `"pipe.treeindex/v2"`},
		{"truncated", good[:len(good)-10], "checksum does not match"},
		{"damaged", flipped, "checksum does not match"},
		{"magic only", []byte(indexMagic), "truncated"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadTreeIndex(bytes.NewReader(c.b))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error saying %q", err, c.want)
			}
		})
	}
	if _, err := ReadTreeIndex(bytes.NewReader(nil)); !errors.Is(err, ErrIndexVersion) {
		t.Errorf("an empty file is not ErrIndexVersion: %v", err)
	}
}

func TestTreeIndexBadPaths(t *testing.T) {
	for _, p := range []string{"", ".", "..", "../x", "/abs", "a//b", "a/"} {
		if _, err := newTreeIndex([]TreeEntry{{Path: p}}); err == nil {
			t.Errorf("path %q accepted", p)
		}
	}
	if _, err := newTreeIndex([]TreeEntry{{Path: "a"}, {Path: "a"}}); err == nil {
		t.Error("a duplicate path accepted")
	}
}

// FuzzReadTreeIndex: a damaged or crafted index file (the step's script
// can write to the dir it lives in) is an error, never a panic or a huge
// allocation. The checksum is recomputed so that inputs reach the decoder.
func FuzzReadTreeIndex(f *testing.F) {
	idx, _ := newTreeIndex(testIndexEntries())
	var buf bytes.Buffer
	idx.WriteTo(&buf)
	f.Add(buf.Bytes()[len(indexMagic) : buf.Len()-32])
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, body []byte) {
		b := append([]byte(indexMagic), body...)
		sum := sha256.Sum256(b)
		if idx, err := ReadTreeIndex(bytes.NewReader(append(b, sum[:]...))); err == nil {
			for _, e := range idx.Entries() {
				if checkIndexPath(e.Path) != nil {
					t.Fatalf("accepted the path %q", e.Path)
				}
			}
		}
	})
}
