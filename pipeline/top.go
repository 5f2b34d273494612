package pipeline

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// parser turns the node tree of a file into a Pipeline.
type parser struct {
	decoder
	p        *Pipeline
	top      *scope              // the pipeline's env and secrets
	caches   map[string]Cache    // declared caches by name
	services map[string]*Service // declared services by name
}

func newParser(filename string, size int) *parser {
	return &parser{
		// A file without merge keys visits fewer mapping entries than it
		// has bytes; the budget only stops alias bombs.
		decoder:  decoder{file: filename, budget: max(1<<16, 2*size), hints: 100},
		p:        &Pipeline{File: filename},
		top:      &scope{vars: map[string]string{}, secrets: map[string]bool{}},
		caches:   map[string]Cache{},
		services: map[string]*Service{},
	}
}

func topKeys() []string {
	return []string{"version", "image", "env", "secrets", "caches", "services", "steps"}
}

// file decodes the top-level mapping. Keys starting with "x-" are ignored,
// so that they can hold YAML anchors for reuse.
func (ps *parser) file(root *yaml.Node) {
	root = deref(root)
	if root == nil || root.Kind != yaml.MappingNode {
		ps.wrongType(root, "pipeline", "a mapping", "version: 1 then steps:")
		return
	}
	fields := map[string]entry{}
	for _, e := range ps.mapping(root, "pipeline", "version: 1") {
		switch {
		case strings.HasPrefix(e.key, "x-"):
		case slices.Contains(topKeys(), e.key):
			fields[e.key] = e
		default:
			ps.unknownKey(e, "pipeline", topKeys())
		}
	}
	ps.version(fields["version"], root)
	ps.secretNames(fields["secrets"])
	if e, ok := fields["env"]; ok {
		ps.p.Env = ps.env(e.v, "env", ps.top, ps.top.vars)
	}
	if e, ok := fields["image"]; ok {
		if s, ok := ps.str(e.v, "image", "image: alpine:3.20"); ok {
			ps.p.Image = ps.expand(e.v, "image", s, ps.top)
		}
	}
	ps.cacheDecls(fields["caches"])
	ps.serviceDecls(fields["services"])
	ps.steps(fields["steps"], root)
}

func (ps *parser) version(e entry, root *yaml.Node) {
	if e.v == nil {
		ps.errorf(root, "add version: 1 at the top of the file", "no version")
		return
	}
	v, ok := ps.integer(e.v, "version", "version: 1")
	if !ok {
		return
	}
	if v != 1 {
		ps.errorf(e.v, "this pipe reads version: 1; upgrade pipe or write version 1", "version %d is not supported", v)
		return
	}
	ps.p.Version = 1
}

// secretNames decodes the declared secrets: names only.
func (ps *parser) secretNames(e entry) {
	if e.v == nil {
		return
	}
	names, nodes := ps.strs(e.v, "secrets", "secrets: [NPM_TOKEN]")
	for i, name := range names {
		switch {
		case !IsEnvName(name):
			ps.errorf(nodes[i], "use letters, digits and _, not starting with a digit", "secrets: %s is not a valid variable name", quote(name))
		case ps.top.secrets[name]:
			ps.errorf(nodes[i], "remove one", "secrets: duplicate secret %s", name)
		default:
			ps.top.secrets[name] = true
			ps.p.Secrets = append(ps.p.Secrets, name)
		}
	}
}

// env decodes an env mapping, expanding each value with sc; each entry is
// added to vars as it is read, so later entries may use earlier ones.
func (ps *parser) env(n *yaml.Node, field string, sc *scope, vars map[string]string) []EnvVar {
	var out []EnvVar
	for _, e := range ps.mapping(n, field, field+": {GOFLAGS: -mod=mod}") {
		name := e.key
		if !IsEnvName(name) {
			ps.errorf(e.k, "use letters, digits and _, not starting with a digit", "%s: %s is not a valid variable name", field, quote(name))
			continue
		}
		if sc.secrets[name] {
			ps.errorf(e.k, "a secret's value comes from the environment or the secrets file at run time; list it in the step's secrets", "%s: %s is declared a secret", field, name)
			continue
		}
		if isNull(e.v) {
			ps.errorf(e.v, "write "+name+": \"\" for an empty value", "%s.%s has no value", field, name)
			continue
		}
		s, ok := ps.str(e.v, field+"."+name, name+": value")
		if !ok {
			continue
		}
		v := ps.expand(e.v, field+"."+name, s, sc)
		vars[name] = v
		out = append(out, EnvVar{Name: name, Value: v})
	}
	return out
}

// cacheDecls decodes the named caches: name -> absolute path, or
// name -> {path: ..., sharing: locked|shared}.
func (ps *parser) cacheDecls(e entry) {
	if e.v == nil {
		return
	}
	for _, c := range ps.mapping(e.v, "caches", "caches: {gomod: /root/go/pkg/mod}") {
		if !IsName(c.key) {
			ps.errorf(c.k, "use letters, digits, _ . -", "caches: %s is not a valid cache name", quote(c.key))
			continue
		}
		// A cache with a bad path is still declared, so that steps naming
		// it do not get a second, misleading error.
		cache := ps.cacheDecl(c)
		ps.caches[c.key] = cache
		ps.p.Caches = append(ps.p.Caches, cache)
	}
}

func cacheKeys() []string { return []string{"path", "sharing"} }

// cacheDecl decodes one cache: a path, or a mapping with path and sharing.
func (ps *parser) cacheDecl(c entry) Cache {
	field := "caches." + c.key
	cache := Cache{Name: c.key, Sharing: SharingLocked}
	pathNode := c.v
	if n := deref(c.v); n != nil && n.Kind == yaml.MappingNode {
		pathNode = nil
		for _, f := range ps.mapping(c.v, field, c.key+": {path: /root/.cache, sharing: shared}") {
			switch f.key {
			case "path":
				pathNode = f.v
			case "sharing":
				cache.Sharing = ps.sharing(f.v, field+".sharing")
			default:
				ps.unknownKey(f, field, cacheKeys())
			}
		}
		if pathNode == nil {
			ps.errorf(c.k, "add path: with the absolute path in the container", "%s has no path", field)
			return cache
		}
	}
	p, ok := ps.str(pathNode, field, c.key+": /root/.cache")
	if ok {
		p = ps.expand(pathNode, field, p, ps.top)
		if !path.IsAbs(p) {
			ps.errorf(pathNode, "write the absolute path in the container, e.g. /root/.cache/"+c.key, "%s: %s is not an absolute path", field, quote(p))
		}
	}
	cache.Path = path.Clean("/" + p)
	return cache
}

// sharing decodes a cache's sharing mode.
func (ps *parser) sharing(n *yaml.Node, field string) Sharing {
	s, ok := ps.str(n, field, "sharing: shared")
	if !ok {
		return SharingLocked
	}
	switch m := Sharing(s); m {
	case SharingLocked, SharingShared:
		return m
	}
	ps.errorf(n, "write locked (one step at a time) or shared (steps at once, for caches safe for concurrent use)", "%s: %s is not a sharing mode", field, quote(s))
	return SharingLocked
}

// refs resolves a list of names against what the file declares.
func (ps *parser) refs(n *yaml.Node, field, kind string, declared func(string) bool, all []string) ([]string, []*yaml.Node) {
	names, nodes := ps.strs(n, field, field+": [name]")
	var out []string
	var outNodes []*yaml.Node
	seen := map[string]bool{}
	for i, name := range names {
		switch {
		case seen[name]:
			ps.errorf(nodes[i], "remove one", "%s: %s listed twice", field, quote(name))
		case !declared(name):
			fallback := fmt.Sprintf("declare it in the top-level %s", kind)
			if len(all) > 0 {
				fallback = fmt.Sprintf("declare it in the top-level %s (declared: %s)", kind, strings.Join(all, ", "))
			}
			ps.errorf(nodes[i], ps.suggestHint(name, all, fallback), "%s: unknown %s %s", field, strings.TrimSuffix(kind, "s"), quote(name))
		default:
			seen[name] = true
			out = append(out, name)
			outNodes = append(outNodes, nodes[i])
		}
	}
	return out, outNodes
}

func (ps *parser) cacheNames() []string {
	out := make([]string, len(ps.p.Caches))
	for i, c := range ps.p.Caches {
		out[i] = c.Name
	}
	return out
}

func (ps *parser) serviceNames() []string {
	out := make([]string, len(ps.p.Services))
	for i, s := range ps.p.Services {
		out[i] = s.Name
	}
	return out
}
