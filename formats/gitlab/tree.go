package gitlab

import (
	"fmt"
	"strings"

	"github.com/pipe-run/pipe/pipeline"
	"gopkg.in/yaml.v3"
)

// kind is what a node holds.
type kind uint8

const (
	kScalar kind = iota
	kMap
	kSeq
)

// node is a YAML value after anchors, aliases and << merges are resolved,
// with the file it came from: GitLab's configuration is a tree of plain
// mappings, lists and scalars, merged across include:, default: and
// extends:, and every value keeps its position for errors.
type node struct {
	kind  kind
	tag   string // !!str, !!int, !!bool, !!null, !!float, or !reference
	value string // scalars
	keys  []*node
	vals  []*node // mapping values, by index of keys
	items []*node // sequence items
	pos   pipeline.Pos
}

func (n *node) isNull() bool { return n == nil || n.kind == kScalar && n.tag == "!!null" }

func (n *node) isMap() bool { return n != nil && n.kind == kMap }

func (n *node) isSeq() bool { return n != nil && n.kind == kSeq }

func (n *node) isStr() bool { return n != nil && n.kind == kScalar && !n.isNull() }

// get returns the value of key in a mapping, or nil.
func (n *node) get(key string) *node {
	if !n.isMap() {
		return nil
	}
	for i, k := range n.keys {
		if k.value == key {
			return n.vals[i]
		}
	}
	return nil
}

// keyNode returns the key node of key, or nil.
func (n *node) keyNode(key string) *node {
	if !n.isMap() {
		return nil
	}
	for _, k := range n.keys {
		if k.value == key {
			return k
		}
	}
	return nil
}

// set replaces or appends key in a mapping.
func (n *node) set(k, v *node) {
	for i, old := range n.keys {
		if old.value == k.value {
			n.vals[i] = v
			return
		}
	}
	n.keys = append(n.keys, k)
	n.vals = append(n.vals, v)
}

// del removes key from a mapping.
func (n *node) del(key string) {
	for i, k := range n.keys {
		if k.value == key {
			n.keys = append(n.keys[:i:i], n.keys[i+1:]...)
			n.vals = append(n.vals[:i:i], n.vals[i+1:]...)
			return
		}
	}
}

// clone copies n deeply (extends and default merge into copies).
func (n *node) clone() *node {
	if n == nil {
		return nil
	}
	c := *n
	c.keys = cloneAll(n.keys)
	c.vals = cloneAll(n.vals)
	c.items = cloneAll(n.items)
	return &c
}

func cloneAll(ns []*node) []*node {
	if ns == nil {
		return nil
	}
	out := make([]*node, len(ns))
	for i, n := range ns {
		out[i] = n.clone()
	}
	return out
}

// size counts n's values, stopping past limit.
func size(n *node, limit int) int {
	if n == nil {
		return 0
	}
	s := 1
	for _, c := range n.vals {
		if s += size(c, limit-s); s > limit {
			return s
		}
	}
	for _, c := range n.items {
		if s += size(c, limit-s); s > limit {
			return s
		}
	}
	return s + len(n.keys)
}

// kindName names what a node is, for "expected X, found Y" messages.
func kindName(n *node) string {
	switch {
	case n.isNull():
		return "nothing"
	case n.kind == kMap:
		return "a mapping"
	case n.kind == kSeq:
		return "a list"
	case n.tag == "!!int" || n.tag == "!!float":
		return "a number"
	case n.tag == "!!bool":
		return "a boolean"
	}
	return "a string"
}

// converter turns yaml.v3 nodes into nodes, following aliases and applying
// merge keys, within a budget that stops alias bombs.
type converter struct {
	file   string
	budget int
	errs   *pipeline.ErrorList
	warns  *pipeline.ErrorList
}

func (c *converter) pos(n *yaml.Node) pipeline.Pos {
	return pipeline.Pos{File: c.file, Line: max(n.Line, 1), Col: max(n.Column, 1)}
}

func (c *converter) errorf(p pipeline.Pos, hint, format string, args ...any) {
	*c.errs = append(*c.errs, &pipeline.Error{Pos: p, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// convert converts n; depth bounds alias chains and nesting.
func (c *converter) convert(n *yaml.Node, depth int) *node {
	if c.budget--; c.budget < 0 || depth > 200 {
		if c.budget == -1 || depth > 200 {
			c.errorf(c.pos(n), "use fewer anchors and aliases", "the file expands to too many values")
			c.budget = -2
		}
		return &node{kind: kScalar, tag: "!!null", pos: c.pos(n)}
	}
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return &node{kind: kScalar, tag: "!!null", pos: c.pos(n)}
		}
		out := c.convert(n.Alias, depth+1)
		return out
	case yaml.MappingNode:
		return c.mapping(n, depth)
	case yaml.SequenceNode:
		out := &node{kind: kSeq, tag: n.Tag, pos: c.pos(n), items: []*node{}}
		for _, it := range n.Content {
			out.items = append(out.items, c.convert(it, depth+1))
		}
		if n.Tag == "!reference" {
			out.tag = "!reference"
		}
		return out
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return &node{kind: kScalar, tag: "!!null", pos: c.pos(n)}
		}
		return c.convert(n.Content[0], depth+1)
	}
	tag := n.Tag
	switch {
	case tag == "" || tag == "!":
		tag = "!!str"
	case strings.HasPrefix(tag, "!!"):
	default:
		c.errorf(c.pos(n), "remove the tag; GitLab knows only !reference", "unknown YAML tag %s", tag)
		tag = "!!str"
	}
	return &node{kind: kScalar, tag: tag, value: n.Value, pos: c.pos(n)}
}

// mapping converts a mapping: merge keys first (in order, earlier wins), then
// the keys written in it win over merged ones; a duplicate key keeps the
// last value, as GitLab's YAML reader does, with a warning.
func (c *converter) mapping(n *yaml.Node, depth int) *node {
	out := &node{kind: kMap, tag: "!!map", pos: c.pos(n)}
	var merged []*node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			merged = append(merged, c.mergeSources(v, depth)...)
		}
	}
	for _, m := range merged {
		for j, k := range m.keys {
			if out.get(k.value) == nil && out.keyNode(k.value) == nil {
				out.set(k, m.vals[j])
			}
		}
	}
	explicit := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == "!!merge" {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			c.errorf(c.pos(k), "use a plain name as key", "a key must be a string, found a %s", nodeKind(k))
			continue
		}
		kn := &node{kind: kScalar, tag: "!!str", value: k.Value, pos: c.pos(k)}
		if explicit[k.Value] {
			*c.warns = append(*c.warns, &pipeline.Error{Pos: kn.pos, Msg: fmt.Sprintf("duplicate key %q: the last one wins, as in GitLab", k.Value), Hint: "remove one of them"})
		}
		explicit[k.Value] = true
		out.set(kn, c.convert(v, depth+1))
	}
	return out
}

// mergeSources converts the value of a << key: one mapping or a list of them.
func (c *converter) mergeSources(v *yaml.Node, depth int) []*node {
	src := c.convert(v, depth+1)
	list := []*node{src}
	if src.isSeq() {
		list = src.items
	}
	var out []*node
	for _, m := range list {
		if !m.isMap() {
			c.errorf(m.pos, "merge an anchored mapping: <<: *defaults", "<< must merge a mapping, found %s", kindName(m))
			continue
		}
		out = append(out, m)
	}
	return out
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	}
	return "value"
}
