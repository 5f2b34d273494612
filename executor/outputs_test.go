package executor

import (
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestMatchGlob(t *testing.T) {
	for _, tc := range []struct {
		pat, path string
		want      bool
	}{
		{"dist", "dist", true},
		{"dist", "dist/a/b.js", true},
		{"dist/*.js", "dist/a.js", true},
		{"dist/*.js", "dist/sub/a.js", false},
		{"dist/**/*.js", "dist/sub/x/a.js", true},
		{"dist/**/*.js", "dist/a.js", true},
		{"**/*.log", "a/b/c.log", true},
		{"**/*.log", "c.log", true},
		{"*.txt", "a/b.txt", false},
		{"bin/app", "bin", false},
		{"./out", "out/x", true},
		{"/workspace/out", "out", true},
	} {
		if got := matchAnyGlob(normalizeGlobs([]string{tc.pat}), tc.path); got != tc.want {
			t.Errorf("%q ~ %q = %v, want %v", tc.pat, tc.path, got, tc.want)
		}
	}
}

// listTree lists a dir's entries as "path" or "path (whiteout)".
func listTree(t *testing.T, dir string) string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, _ := d.Info()
		switch {
		case isWhiteout(fi):
			rel += " (whiteout)"
		case d.IsDir() && isOpaqueDir(p):
			rel += "/ (opaque)"
		case d.IsDir():
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	sort.Strings(out)
	return strings.Join(out, " ")
}

func TestFilterOutputs(t *testing.T) {
	mk := func(t *testing.T) string {
		dir := writeFiles(t, t.TempDir(), map[string]string{
			"dist/app.js": "js", "dist/sub/x.js": "x", "build.log": "log", "tmp/cache/y": "y", "opq/kept.txt": "k",
		})
		if err := unix.Mknod(filepath.Join(dir, "deleted.txt"), unix.S_IFCHR, 0); err != nil {
			t.Skipf("whiteouts need root: %v", err)
		}
		if err := unix.Mknod(filepath.Join(dir, "dist/old.js"), unix.S_IFCHR, 0); err != nil {
			t.Fatal(err)
		}
		if err := unix.Setxattr(filepath.Join(dir, "opq"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	for _, tc := range []struct {
		name  string
		globs []string
		want  string
		files int
	}{
		{"all", nil, "build.log deleted.txt (whiteout) dist/ dist/app.js dist/old.js (whiteout) dist/sub/ dist/sub/x.js opq/ (opaque) opq/kept.txt tmp/ tmp/cache/ tmp/cache/y", 7},
		{"dist", []string{"dist"}, "dist/ dist/app.js dist/old.js (whiteout) dist/sub/ dist/sub/x.js", 3},
		{"js top", []string{"dist/*.js"}, "dist/ dist/app.js dist/old.js (whiteout)", 2},
		{"nested file in opaque dir", []string{"opq/kept.txt", "deleted.txt"}, "deleted.txt (whiteout) opq/ opq/kept.txt", 2},
		{"nothing", []string{"nope"}, "", 0},
		{"outputs: []", []string{}, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := mk(t)
			st, err := filterOutputs(dir, tc.globs)
			if err != nil {
				t.Fatal(err)
			}
			if got := listTree(t, dir); got != tc.want {
				t.Errorf("kept:\n%s\nwant:\n%s", got, tc.want)
			}
			if st.Files != tc.files {
				t.Errorf("files %d, want %d", st.Files, tc.files)
			}
		})
	}
}
