package workspace

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"testing"
)

// The digest hashes the selected files' lines in runs; it must be the same
// bytes, so the same keys, as one line at a time.
func TestDigestSameAsLineByLine(t *testing.T) {
	w := &Workspace{}
	for i := range 300 {
		f := wsFile{path: fmt.Sprintf("d%d/f%03d.%s", i%7, i, []string{"go", "md", "txt"}[i%3]),
			symlink: i%11 == 0, exec: i%5 == 0}
		f.sum = sha256.Sum256([]byte(f.path))
		w.files = append(w.files, f)
	}
	for _, globs := range [][]string{nil, {"**/*.go"}, {"d1/**", "!d1/f*5.go"}, {"**/*.md", "d3/**"}, {"nothing/**"}} {
		got, err := w.digest(globs)
		if err != nil {
			t.Fatal(err)
		}
		sel, _ := newSelector(globs)
		h := sha256.New()
		io.WriteString(h, "pipe.inputs/v1\n")
		for i, in := range w.selected(sel) {
			if in {
				h.Write(w.files[i].appendDigestLine(nil))
			}
		}
		if want := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != want {
			t.Errorf("globs %q: digest %s, line by line %s", globs, got, want)
		}
	}
}
