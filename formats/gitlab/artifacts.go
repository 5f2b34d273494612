package gitlab

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"

	"github.com/pipe-run/pipe/pipeline"
	"gopkg.in/yaml.v3"
)

// outputs writes the job's artifacts as the step's outputs: its paths, or
// everything with untracked: true, or nothing without artifacts (a later job
// sees only the artifacts of earlier ones, as in GitLab).
func (t *translator) outputs(d *doc, s *yaml.Node, j *jobInfo, vs *vars) {
	a := j.n.get("artifacts")
	var globs []string
	untracked := false
	pos := j.key.pos
	if a != nil {
		pos = a.pos
		if !a.isMap() {
			t.errorf(a.pos, "write artifacts: {paths: [dist/]}", "%s.artifacts: expected a mapping, found %s", j.name, kindName(a))
			return
		}
		for i, k := range a.keys {
			v := a.vals[i]
			switch k.value {
			case "paths":
				globs = t.artifactPaths(j, v, vs)
			case "untracked":
				untracked, _ = boolOf(v)
			case "exclude":
				t.warnf(k.pos, "list only the paths to keep", "%s.artifacts.exclude: pipe keeps the paths without excluding", j.name)
			case "when":
				if w := strValue(v); w != "on_success" {
					t.warnf(k.pos, "", "%s.artifacts.when: %s: pipe keeps the outputs of a step that succeeded only", j.name, w)
				}
			case "reports":
				t.warnf(k.pos, "pipe run --junit FILE writes a JUnit report of the steps", "%s.artifacts.reports are not collected", j.name)
			case "expire_in", "name", "expose_as", "public", "access":
				t.warnf(k.pos, "", "%s.artifacts.%s is ignored: outputs live in pipe's step cache", j.name, k.value)
			default:
				t.errorf(k.pos, "known keys: paths, exclude, untracked, when, reports, expire_in, name", "%s.artifacts: unknown key %q", j.name, k.value)
			}
		}
	}
	if untracked {
		return // everything the job wrote
	}
	if globs == nil {
		globs = []string{}
	}
	d.e.add(s, "outputs", d.e.list(globs, pos), pos)
}

func (t *translator) artifactPaths(j *jobInfo, v *node, vs *vars) []string {
	list, ok := strList(v)
	if !ok {
		t.errorf(v.pos, "write paths: [dist/, coverage.out]", "%s.artifacts.paths: expected a list of paths, found %s", j.name, kindName(v))
		return nil
	}
	out := []string{}
	for i, p := range list {
		p = expandVars(p, vs.get)
		p = strings.TrimPrefix(p, ProjectDir+"/")
		clean := path.Clean(p)
		if path.IsAbs(p) || clean == ".." || strings.HasPrefix(clean, "../") {
			t.errorf(itemPos(v, i), "artifacts are paths inside the project directory", "%s.artifacts.paths: %q is outside the project", j.name, p)
			continue
		}
		out = append(out, escapeDollar(strings.ReplaceAll(clean, "\x00", "")))
	}
	return out
}

// caches writes the job's cache: entries as named cache volumes, one per
// path, mounted inside the workspace where GitLab restores them.
func (t *translator) caches(d *doc, s *yaml.Node, j *jobInfo, vs *vars) {
	c := j.n.get("cache")
	if c == nil || c.isNull() {
		return
	}
	entries := []*node{c}
	if c.isSeq() {
		entries = c.items
	}
	var names []string
	for _, en := range entries {
		names = append(names, t.cacheEntry(d, j, en, vs)...)
	}
	if len(names) > 0 {
		d.e.add(s, "caches", d.e.list(names, c.pos), c.pos)
	}
}

func (t *translator) cacheEntry(d *doc, j *jobInfo, c *node, vs *vars) []string {
	if !c.isMap() {
		t.errorf(c.pos, "write cache: {key: deps, paths: [node_modules/]}", "%s.cache: expected a mapping, found %s", j.name, kindName(c))
		return nil
	}
	key := "default"
	var paths []string
	var pathsNode *node
	for i, k := range c.keys {
		v := c.vals[i]
		switch k.value {
		case "key":
			key = t.cacheKey(j, v, vs)
		case "paths":
			pathsNode = v
			var ok bool
			if paths, ok = strList(v); !ok {
				t.errorf(v.pos, "write paths: [node_modules/]", "%s.cache.paths: expected a list of paths, found %s", j.name, kindName(v))
			}
		case "policy":
			if p := strValue(v); p != "pull-push" {
				t.warnf(k.pos, "pipe mounts a cache volume read-write", "%s.cache.policy: %s: the job may also change the cache", j.name, p)
			}
		case "when":
			if w := strValue(v); w != "on_success" {
				t.warnf(k.pos, "", "%s.cache.when: %s: a cache volume keeps what the job wrote, whatever its outcome", j.name, w)
			}
		case "untracked", "unprotect", "fallback_keys":
			t.warnf(k.pos, "", "%s.cache.%s is ignored", j.name, k.value)
		default:
			t.errorf(k.pos, "known keys: key, paths, policy, when", "%s.cache: unknown key %q", j.name, k.value)
		}
	}
	var names []string
	for i, p := range paths {
		p = strings.ReplaceAll(expandVars(p, vs.get), "\x00", "")
		p = strings.TrimPrefix(p, ProjectDir+"/")
		clean := path.Clean(p)
		switch {
		case path.IsAbs(p) || clean == ".." || strings.HasPrefix(clean, "../") || clean == ".":
			t.errorf(itemPos(pathsNode, i), "cache paths are directories inside the project directory", "%s.cache.paths: %q cannot be a cache volume", j.name, p)
			continue
		case strings.ContainsAny(clean, "*?["):
			t.warnf(itemPos(pathsNode, i), "name the directory to cache", "%s.cache.paths: %q: a cache volume is one directory, the pattern is not cached", j.name, p)
			continue
		}
		name := cacheName(key, clean)
		if !d.cacheSet[name] {
			d.cacheSet[name] = true
			d.e.add(d.caches, name, d.e.str(escapeDollar(pipeline.Workspace+"/"+clean), itemPos(pathsNode, i)), itemPos(pathsNode, i))
		}
		names = append(names, name)
	}
	return names
}

// cacheKey reads key: a string, or {files: [...], prefix}: the files'
// content digest, as GitLab keys a cache by its lock files.
func (t *translator) cacheKey(j *jobInfo, v *node, vs *vars) string {
	if v.kind == kScalar {
		return strings.ReplaceAll(expandVars(v.value, vs.get), "\x00", "")
	}
	if !v.isMap() {
		t.errorf(v.pos, "write key: name, or key: {files: [package-lock.json]}", "%s.cache.key: expected a name, found %s", j.name, kindName(v))
		return "default"
	}
	files, _ := strList(v.get("files"))
	h := sha256.New()
	for _, f := range files {
		h.Write([]byte(f + "\x00"))
		if t.ctx.ReadFile != nil {
			if b, err := t.ctx.ReadFile(strings.TrimPrefix(path.Clean("/"+f), "/")); err == nil {
				h.Write(b)
			}
		}
	}
	key := hex.EncodeToString(h.Sum(nil))[:12]
	if p := strValue(v.get("prefix")); p != "" {
		key = expandVars(p, vs.get) + "-" + key
	}
	return key
}

// cacheName makes a pipe cache name of a key and a path.
func cacheName(key, p string) string {
	var b strings.Builder
	for _, c := range key + "-" + p {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-' {
			b.WriteRune(c)
		} else {
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-_.")
	if len(s) > 120 {
		sum := sha256.Sum256([]byte(s))
		s = s[:100] + "-" + hex.EncodeToString(sum[:])[:12]
	}
	if s == "" {
		s = "default"
	}
	return s
}
