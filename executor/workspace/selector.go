package workspace

import (
	"fmt"
	"strings"
)

// inputSelector is a compiled list of input globs (see Workspace.Files).
type inputSelector []inputGlob

// inputGlob is one glob of a selector.
type inputGlob struct {
	glob   string // normalized: no "!", "./" or surrounding slashes
	negate bool   // "!glob": deselects what it matches
	m      *globMatcher
}

// newSelector compiles globs (see Workspace.Files).
func newSelector(globs []string) (inputSelector, error) {
	var sel inputSelector
	for _, g := range globs {
		p := inputGlob{}
		if strings.HasPrefix(g, "!") {
			p.negate, g = true, g[1:]
		}
		g = strings.Trim(strings.TrimPrefix(g, "./"), "/")
		if g == "" || g == "." {
			g = "**"
		}
		m, err := newGlobMatcher(g, true)
		if err != nil {
			return nil, fmt.Errorf("inputs: %w", err)
		}
		p.glob, p.m = g, m
		sel = append(sel, p)
	}
	return sel, nil
}

// match reports whether name is selected: by the last glob that matches the
// path or a parent directory of it.
func (sel inputSelector) match(name string) bool {
	if len(sel) == 0 {
		return true
	}
	in := sel[0].negate
	for _, p := range sel {
		if p.m.match(name) {
			in = !p.negate
		}
	}
	return in
}

// selected returns, per file of w, whether sel selects it (as match does),
// from the matches of each glob, which w keeps: the steps of a run share
// globs ("**/*.go", "go.mod"), so each is matched against the files once.
func (w *Workspace) selected(sel inputSelector) []bool {
	in := make([]bool, len(w.files))
	if len(sel) == 0 {
		for i := range in {
			in[i] = true
		}
		return in
	}
	for i := range in {
		in[i] = sel[0].negate
	}
	for _, p := range sel {
		for i, hit := range w.globHits(p) {
			if hit {
				in[i] = !p.negate
			}
		}
	}
	return in
}

// globHits returns, per file of w, whether p's glob matches it; computed
// once per glob.
func (w *Workspace) globHits(p inputGlob) []bool {
	w.hitsMu.Lock()
	defer w.hitsMu.Unlock()
	if h, ok := w.hits[p.glob]; ok {
		return h
	}
	if w.plain == nil {
		w.plain = make([]bool, len(w.files))
		for i := range w.files {
			w.plain[i] = walkable(w.files[i].path)
		}
	}
	h := make([]bool, len(w.files))
	for i := range w.files {
		h[i] = p.m.matchKnown(w.files[i].path, w.plain[i])
	}
	if w.hits == nil {
		w.hits = map[string][]bool{}
	}
	w.hits[p.glob] = h
	return h
}
