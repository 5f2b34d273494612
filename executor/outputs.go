package executor

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pipe-run/pipe/pipeline"
)

// An output layer is the upper dir of a step's /workspace overlay: what the
// step's commands wrote, in overlay form (new and changed files, directories,
// whiteouts for deletions, opaque directories). The step's `outputs:` globs
// say what of it is kept; the rest is removed before the layer is committed
// to the cache, so that dependants never see it.
//
// Filter rules: a path is kept when a glob matches it or one of its parent
// directories ("dist" keeps all of dist/). Globs are slash-separated, relative
// to /workspace, with pipeline.MatchGlob's syntax (path.Match per segment, "**" for any
// number of segments). Whiteouts follow the same rule as files (deleting a file that is
// not an output is not an output either). A directory that is kept only
// because some of its entries are loses its opaque marker: that it was
// replaced is a change of the directory itself, which the globs do not keep.

// layerStats counts what an output layer holds.
type layerStats struct {
	Files int   // non-directory entries, whiteouts included
	Size  int64 // bytes of regular files
}

// filterOutputs removes from the output layer dir what globs do not keep.
// Nil globs keep everything; an empty list (outputs: []) keeps nothing.
func filterOutputs(dir string, globs []string) (layerStats, error) {
	pats := normalizeGlobs(globs)
	var st layerStats
	if _, err := filterDir(dir, "", pats, &st); err != nil {
		return st, fmt.Errorf("filter outputs of %s: %w", dir, err)
	}
	return st, nil
}

func normalizeGlobs(globs []string) []string {
	if globs == nil {
		return nil
	}
	out := make([]string, 0, len(globs))
	for _, g := range globs {
		g = strings.TrimPrefix(g, "/workspace/")
		g = strings.TrimPrefix(path.Clean("/"+g), "/")
		if g == "" {
			g = "**"
		}
		out = append(out, g)
	}
	return out
}

// filterDir filters dir/rel and reports whether anything in it is kept.
func filterDir(dir, rel string, pats []string, st *layerStats) (bool, error) {
	entries, err := os.ReadDir(filepath.Join(dir, rel))
	if err != nil {
		return false, err
	}
	kept := false
	for _, e := range entries {
		r := path.Join(rel, e.Name())
		p := filepath.Join(dir, r)
		fi, err := e.Info()
		if err != nil {
			return false, err
		}
		if pats == nil || matchAnyGlob(pats, r) {
			kept = true
			if err := countTree(p, fi, st); err != nil {
				return false, err
			}
			continue
		}
		if fi.IsDir() {
			sub, err := filterDir(dir, r, pats, st)
			if err != nil {
				return false, err
			}
			if sub {
				kept = true
				if err := clearOpaque(p); err != nil {
					return false, err
				}
				continue
			}
		}
		if err := os.RemoveAll(p); err != nil {
			return false, err
		}
	}
	return kept, nil
}

// countTree adds what p holds to st.
func countTree(p string, fi fs.FileInfo, st *layerStats) error {
	if !fi.IsDir() {
		st.Files++
		if fi.Mode().IsRegular() {
			st.Size += fi.Size()
		}
		return nil
	}
	return filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		st.Files++
		if d.Type().IsRegular() {
			if i, err := d.Info(); err == nil {
				st.Size += i.Size()
			}
		}
		return nil
	})
}

// matchAnyGlob reports whether a glob matches rel or one of its parents.
// Globs have pipeline.MatchGlob's syntax, as everywhere in the file format.
func matchAnyGlob(pats []string, rel string) bool {
	for _, p := range pats {
		for q := rel; q != "." && q != ""; q = path.Dir(q) {
			if pipeline.MatchGlob(p, q) {
				return true
			}
		}
	}
	return false
}
