package pipeline

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder walks yaml.v3 nodes and collects every problem with its position.
type decoder struct {
	file   string
	errs   ErrorList
	budget int // mapping entries left to visit through merge keys (alias bombs)
	hints  int // did-you-mean searches left (they cost O(candidates))
}

// entry is one key: value pair of a mapping.
type entry struct {
	key string
	k   *yaml.Node
	v   *yaml.Node
}

func (d *decoder) pos(n *yaml.Node) Pos {
	if n == nil || n.Line == 0 {
		return Pos{File: d.file, Line: 1, Col: 1}
	}
	return Pos{File: d.file, Line: n.Line, Col: n.Column}
}

// errorf records a problem at n with a hint saying what to do.
func (d *decoder) errorf(n *yaml.Node, hint, format string, args ...any) {
	d.errs = append(d.errs, &Error{Pos: d.pos(n), Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// suggestHint returns a did-you-mean hint within the search budget.
func (d *decoder) suggestHint(s string, candidates []string, fallback string) string {
	if d.hints <= 0 {
		return fallback
	}
	d.hints--
	return didYouMean(s, candidates, fallback)
}

// deref follows an alias to the node it names.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// kindName names what a node is, for "expected X, found Y" messages.
func kindName(n *yaml.Node) string {
	n = deref(n)
	switch {
	case n == nil || isNull(n):
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Tag == "!!str":
		return "a string"
	case n.Tag == "!!int" || n.Tag == "!!float":
		return "a number"
	case n.Tag == "!!bool":
		return "a boolean"
	}
	return "a " + strings.TrimPrefix(n.Tag, "!!")
}

func (d *decoder) wrongType(n *yaml.Node, field, want, example string) {
	d.errorf(n, "write for example "+example, "%s: expected %s, found %s", field, want, kindName(n))
}

// mapping returns the entries of a mapping node in file order, with merge keys
// (<<: *anchor) applied: keys written in the mapping win over merged ones.
// Duplicate keys are reported. It returns nil for anything but a mapping.
func (d *decoder) mapping(n *yaml.Node, field, example string) []entry {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		d.wrongType(n, field, "a mapping", example)
		return nil
	}
	seen := make(map[string]*yaml.Node, len(n.Content)/2)
	var out []entry
	d.collect(n, field, seen, &out, true, 0)
	return out
}

// collect appends the entries of mapping n to out. Explicit keys of the
// outer mapping are collected first so that merged keys never override them.
func (d *decoder) collect(n *yaml.Node, field string, seen map[string]*yaml.Node, out *[]entry, explicit bool, depth int) {
	if explicit {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := deref(n.Content[i])
			if k.Kind != yaml.ScalarNode || k.Value == "<<" && k.Tag == "!!merge" {
				continue
			}
			if prev, dup := seen[k.Value]; dup {
				d.errorf(k, fmt.Sprintf("the first is at line %d; remove one", prev.Line), "%s: duplicate key %s", field, quote(k.Value))
				continue
			}
			seen[k.Value] = k
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if d.budget--; d.budget < 0 {
			if d.budget == -1 {
				d.errorf(k, "simplify the anchors and merge keys", "%s: too many merged keys", field)
			}
			return
		}
		switch {
		case k.Kind == yaml.ScalarNode && k.Tag == "!!merge":
			d.merge(v, field, seen, out, depth)
		case k.Kind != yaml.ScalarNode:
			d.errorf(k, "use a plain name as key", "%s: a key must be a string, found %s", field, kindName(k))
		case explicit:
			if seen[k.Value] == k {
				*out = append(*out, entry{key: k.Value, k: k, v: v})
			}
		default:
			if _, dup := seen[k.Value]; !dup {
				seen[k.Value] = k
				*out = append(*out, entry{key: k.Value, k: k, v: v})
			}
		}
	}
}

// merge applies the value of a << key: one mapping or a list of mappings.
func (d *decoder) merge(v *yaml.Node, field string, seen map[string]*yaml.Node, out *[]entry, depth int) {
	if depth > 20 {
		d.errorf(v, "merge fewer levels of anchors", "%s: merge keys nested too deep", field)
		d.budget = -1 // stop merging anything else: one error is enough
		return
	}
	srcs := []*yaml.Node{v}
	if dv := deref(v); dv != nil && dv.Kind == yaml.SequenceNode {
		srcs = dv.Content
	}
	for _, src := range srcs {
		s := deref(src)
		if s == nil || s.Kind != yaml.MappingNode {
			d.errorf(src, "merge an anchored mapping: <<: *defaults", "%s: << must merge a mapping, found %s", field, kindName(s))
			continue
		}
		d.collect(s, field, seen, out, false, depth+1)
	}
}

// str decodes a scalar as text; numbers and booleans keep their spelling.
func (d *decoder) str(n *yaml.Node, field, example string) (string, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || isNull(n) {
		d.wrongType(n, field, "a string", example)
		return "", false
	}
	return n.Value, true
}

// strs decodes a string or a list of strings.
func (d *decoder) strs(n *yaml.Node, field, example string) ([]string, []*yaml.Node) {
	n = deref(n)
	if n != nil && n.Kind == yaml.ScalarNode && !isNull(n) {
		return []string{n.Value}, []*yaml.Node{n}
	}
	if n == nil || n.Kind != yaml.SequenceNode {
		d.wrongType(n, field, "a list of strings", example)
		return nil, nil
	}
	out := make([]string, 0, len(n.Content))
	nodes := make([]*yaml.Node, 0, len(n.Content))
	for _, c := range n.Content {
		if s, ok := d.str(c, field+" entry", example); ok {
			out = append(out, s)
			nodes = append(nodes, deref(c))
		}
	}
	return out, nodes
}

func (d *decoder) boolean(n *yaml.Node, field string) (bool, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		d.wrongType(n, field, "true or false", lastKey(field)+": true")
		return false, false
	}
	b, err := strconv.ParseBool(strings.ToLower(n.Value))
	if err != nil {
		d.wrongType(n, field, "true or false", lastKey(field)+": true")
		return false, false
	}
	return b, true
}

func (d *decoder) integer(n *yaml.Node, field, example string) (int64, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!int" && !isDigits(n.Value) {
		d.wrongType(n, field, "a whole number", example)
		return 0, false
	}
	i, err := strconv.ParseInt(n.Value, 0, 64)
	if err != nil {
		d.errorf(n, "write for example "+example, "%s: %s is out of range", field, n.Value)
		return 0, false
	}
	return i, true
}

func isDigits(s string) bool {
	s = strings.TrimPrefix(s, "-")
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// lastKey returns the last part of a dotted field path, for examples.
func lastKey(field string) string {
	if i := strings.LastIndexByte(field, '.'); i >= 0 {
		return field[i+1:]
	}
	return field
}

// unknownKey reports a key that is not part of the format, suggesting the
// closest known key or the pipe spelling of another CI system's key.
func (d *decoder) unknownKey(e entry, where string, known []string) {
	hint := foreignKey(e.key)
	if hint == "" {
		hint = d.suggestHint(e.key, known, "known keys: "+strings.Join(known, ", "))
	}
	d.errorf(e.k, hint, "%s: unknown key %s", where, quote(e.key))
}

// foreignKey returns pipe's spelling of another CI system's key, or "".
func foreignKey(key string) string {
	switch key {
	case "commands":
		return `pipe calls it "run"`
	case "script":
		return `pipe calls it "run"`
	case "steps":
		return `pipe calls it "run" inside a step`
	case "depends_on":
		return `pipe calls it "needs"`
	case "dependencies":
		return `pipe calls it "needs"`
	case "environment":
		return `pipe calls it "env"`
	case "variables":
		return `pipe calls it "env"`
	case "working_dir":
		return `pipe calls it "workdir"`
	case "working-directory":
		return `pipe calls it "workdir"`
	case "continue-on-error":
		return `pipe calls it "allow_failure: true"`
	case "failure":
		return `pipe calls it "allow_failure: true"`
	case "timeout-minutes":
		return `pipe calls it "timeout", e.g. timeout: 10m`
	case "retries":
		return `pipe calls it "retry"`
	case "rules":
		return `pipe calls it "when"`
	case "if":
		return `pipe calls it "when"`
	case "only":
		return `pipe calls it "when"`
	case "strategy":
		return `pipe calls it "matrix"`
	case "stage":
		return `pipe has no stages: say what a step needs with "needs"`
	case "stages":
		return `pipe has no stages: say what a step needs with "needs"`
	case "runs-on":
		return `pipe runs every step in a container of its "image"`
	case "jobs":
		return `pipe calls them "steps"`
	case "pipeline":
		return `pipe calls them "steps"`
	case "uses":
		return `pipe runs commands only: use "image" and "run"`
	case "entrypoint":
		return `a step runs "run" with sh -e; use "command" on a service`
	case "privileged":
		return `pipe never runs steps privileged`
	case "volumes":
		return `use named "caches" to keep data between runs`
	}
	return ""
}
