package gitlab

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/pipe-run/pipe/formats"
	"github.com/pipe-run/pipe/pipeline"
	"gopkg.in/yaml.v3"
)

// Limits of include:, as GitLab's.
const (
	maxIncludes     = 150
	maxIncludeDepth = 100
	maxNodes        = 1 << 18 // values after anchors are expanded, over all files
	maxCopies       = 1 << 20 // values copied by default:, extends: and !reference
)

// reader reads the main file and the files it includes into one tree.
type reader struct {
	ctx     formats.Context
	errs    pipeline.ErrorList
	warns   pipeline.ErrorList
	budget  int
	files   int
	reading []string // the include chain, for cycles
}

func (r *reader) errorf(p pipeline.Pos, hint, format string, args ...any) {
	r.errs = append(r.errs, &pipeline.Error{Pos: p, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func (r *reader) warnf(p pipeline.Pos, hint, format string, args ...any) {
	r.warns = append(r.warns, &pipeline.Error{Pos: p, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// parse reads one file's YAML. A first document holding only spec: (the
// header of a file with inputs) is reported: pipe does not interpolate
// inputs.
func (r *reader) parse(name string, data []byte) *node {
	at := pipeline.Pos{File: name, Line: 1, Col: 1}
	if len(data) > pipeline.MaxFileSize {
		r.errorf(at, "split the file", "file is %d bytes, more than the %d pipe reads", len(data), pipeline.MaxFileSize)
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*yaml.Node
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			r.errs = append(r.errs, pipeline.YAMLError(name, data, err))
			return nil
		}
		docs = append(docs, &doc)
		if len(docs) > 2 {
			break
		}
	}
	if len(docs) == 0 || len(docs[0].Content) == 0 {
		r.errorf(at, "add jobs: a name with a script:", "file is empty")
		return nil
	}
	c := &converter{file: name, budget: r.budget, errs: &r.errs, warns: &r.warns}
	root := c.convert(docs[0], 0)
	r.budget = c.budget
	if len(docs) > 1 {
		if root.isMap() && root.get("spec") != nil && len(root.keys) == 1 {
			r.errorf(root.keyNode("spec").pos, "pipe does not interpolate $[[ inputs ]]: write the values in the file", "spec: inputs are not supported")
		} else {
			r.errorf(pipeline.Pos{File: name, Line: docs[1].Line, Col: 1}, "keep one configuration per file", "more than one YAML document (---)")
		}
		return nil
	}
	if !root.isMap() {
		r.errorf(root.pos, "a GitLab CI file is a mapping of job names to jobs", "expected a mapping, found %s", kindName(root))
		return nil
	}
	return root
}

// load reads a file and the files it includes, merged as GitLab merges
// them: the included files in order, then the file itself on top (mappings
// merged deeply, anything else replaced).
func (r *reader) load(name string, data []byte) *node {
	root := r.parse(name, data)
	if root == nil {
		return nil
	}
	inc := root.get("include")
	if inc == nil {
		return root
	}
	root = root.clone()
	root.del("include")
	var merged *node
	for _, f := range r.includes(inc) {
		if m := r.loadInclude(f); m != nil {
			merged = deepMerge(merged, m)
		}
	}
	return deepMerge(merged, root)
}

// includeFile is one local file to include, and where it was named.
type includeFile struct {
	path string
	pos  pipeline.Pos
}

// includes lists the local files an include: names, reporting what pipe
// cannot include.
func (r *reader) includes(inc *node) []includeFile {
	items := []*node{inc}
	if inc.isSeq() {
		items = inc.items
	}
	var out []includeFile
	for _, it := range items {
		switch {
		case it.isStr():
			if isURL(it.value) {
				r.remote(it)
				continue
			}
			out = append(out, r.expandLocal(it.value, it.pos)...)
		case it.isMap():
			out = append(out, r.includeMap(it)...)
		default:
			r.errorf(it.pos, "write include: path/to/file.yml or include: {local: path}", "include: expected a path or a mapping, found %s", kindName(it))
		}
	}
	return out
}

func isURL(s string) bool { return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") }

func (r *reader) remote(n *node) {
	r.errorf(n.pos, "pipe fetches nothing from the network: copy the file into the repository and include it with local:", "include: remote files are not supported")
}

// includeMap reads one include: {local: ...} entry.
func (r *reader) includeMap(it *node) []includeFile {
	var out []includeFile
	for i, k := range it.keys {
		v := it.vals[i]
		switch k.value {
		case "local":
			if !v.isStr() {
				r.errorf(v.pos, "write local: path/to/file.yml", "include.local: expected a path, found %s", kindName(v))
				continue
			}
			if !r.includeRules(it.get("rules")) {
				return nil
			}
			out = append(out, r.expandLocal(v.value, v.pos)...)
		case "remote":
			r.remote(k)
		case "project", "file", "ref":
			if k.value == "project" {
				r.errorf(k.pos, "pipe reads only this repository: copy the file in and include it with local:", "include: project files are not supported")
			}
		case "template":
			r.errorf(k.pos, "pipe ships no GitLab templates: copy the template into the repository and include it with local:", "include: templates are not supported")
		case "component":
			r.errorf(k.pos, "pipe fetches no CI/CD components: copy the component's template into the repository and include it with local:", "include: components are not supported")
		case "rules":
		case "inputs":
			r.errorf(k.pos, "pipe does not interpolate $[[ inputs ]]: write the values in the included file", "include: inputs are not supported")
		case "cache":
			r.warnf(k.pos, "pipe reads included files from the repository each time", "include.cache is ignored")
		default:
			r.errorf(k.pos, "known keys: local, rules (remote, project, template and component are not supported)", "include: unknown key %q", k.value)
		}
	}
	return out
}

// includeRules evaluates the rules: of an include with the predefined and
// the environment's variables.
func (r *reader) includeRules(rules *node) bool {
	if rules == nil {
		return true
	}
	ev := &evaluator{ctx: r.ctx, vars: predefined(r.ctx, nil), errs: &r.errs, warns: &r.warns}
	res := ev.rules(rules, "include.rules")
	return res.matched && res.when != "never"
}

// expandLocal resolves a local path (relative to the repository root, with
// or without a leading /), and its wildcards through ctx.Glob.
func (r *reader) expandLocal(p string, pos pipeline.Pos) []includeFile {
	clean := strings.TrimPrefix(path.Clean("/"+p), "/")
	if !strings.ContainsAny(clean, "*?[") {
		return []includeFile{{path: clean, pos: pos}}
	}
	if r.ctx.Glob == nil {
		r.errorf(pos, "name the files one by one", "include: %q: no repository to match the wildcard against", p)
		return nil
	}
	matches, err := r.ctx.Glob(clean)
	if err != nil {
		r.errorf(pos, "fix the pattern", "include: %q: %v", p, err)
		return nil
	}
	slices.Sort(matches)
	var out []includeFile
	for _, m := range matches {
		if ext := path.Ext(m); ext == ".yml" || ext == ".yaml" {
			out = append(out, includeFile{path: m, pos: pos})
		}
	}
	if len(out) == 0 {
		r.errorf(pos, "check the pattern, relative to the repository root", "include: %q matches no .yml file", p)
	}
	return out
}

// loadInclude reads one local file, with its own includes.
func (r *reader) loadInclude(f includeFile) *node {
	if r.files++; r.files > maxIncludes {
		if r.files == maxIncludes+1 {
			r.errorf(f.pos, "include fewer files", "more than %d included files", maxIncludes)
		}
		return nil
	}
	if slices.Contains(r.reading, f.path) || len(r.reading) >= maxIncludeDepth {
		r.errorf(f.pos, "remove the include that closes the loop", "include: %s includes itself (%s)", f.path, strings.Join(append(r.reading, f.path), " -> "))
		return nil
	}
	if r.ctx.ReadFile == nil {
		r.errorf(f.pos, "run pipe inside the repository", "include: cannot read %s: no repository", f.path)
		return nil
	}
	data, err := r.ctx.ReadFile(f.path)
	if err != nil {
		r.errorf(f.pos, "the path is relative to the repository root", "include: cannot read %s: %v", f.path, err)
		return nil
	}
	r.reading = append(r.reading, f.path)
	defer func() { r.reading = r.reading[:len(r.reading)-1] }()
	return r.load(f.path, data)
}

// deepMerge merges src over dst: mappings key by key, recursively; any other
// value of src replaces dst's. Either may be nil. dst is modified.
func deepMerge(dst, src *node) *node {
	if dst == nil {
		return src.clone()
	}
	if src == nil {
		return dst
	}
	if !dst.isMap() || !src.isMap() {
		return src.clone()
	}
	for i, k := range src.keys {
		if old := dst.get(k.value); old != nil && old.isMap() && src.vals[i].isMap() {
			dst.set(k, deepMerge(old, src.vals[i]))
			continue
		}
		dst.set(k, src.vals[i].clone())
	}
	return dst
}
