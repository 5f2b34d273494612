package gitlab

import (
	"strconv"

	"github.com/pipe-run/pipe/pipeline"
)

// strValue returns a scalar's text, or "" for anything else.
func strValue(n *node) string {
	if n.isStr() {
		return n.value
	}
	return ""
}

// strList reads a string or a list of strings (nested lists flattened).
func strList(n *node) ([]string, bool) {
	if n.isStr() {
		return []string{n.value}, true
	}
	if !n.isSeq() {
		return nil, false
	}
	var out []string
	for _, it := range flatten(n.items, 0) {
		if !it.isStr() {
			return nil, false
		}
		out = append(out, it.value)
	}
	return out, true
}

// flatten flattens nested lists (what !reference leaves in a script), up
// to 10 levels as GitLab does.
func flatten(items []*node, depth int) []*node {
	var out []*node
	for _, it := range items {
		if it.isSeq() && depth < 10 {
			out = append(out, flatten(it.items, depth+1)...)
			continue
		}
		out = append(out, it)
	}
	return out
}

// nodePos is n's position; a missing node has none.
func nodePos(n *node) pipeline.Pos {
	if n == nil {
		return pipeline.Pos{Line: 1, Col: 1}
	}
	return n.pos
}

// itemPos is the position of the j-th item of a (flattened) list.
func itemPos(n *node, j int) pipeline.Pos {
	if n.isSeq() {
		if items := flatten(n.items, 0); j < len(items) {
			return items[j].pos
		}
	}
	return nodePos(n)
}

// boolValue reads a YAML boolean.
func boolOf(n *node) (bool, bool) {
	if n == nil || n.kind != kScalar || n.tag != "!!bool" {
		return false, false
	}
	b, err := strconv.ParseBool(n.value)
	if err != nil {
		switch n.value {
		case "True", "TRUE":
			return true, true
		case "False", "FALSE":
			return false, true
		}
		return false, false
	}
	return b, true
}

// intOf reads a YAML integer.
func intOf(n *node) (int, bool) {
	if n == nil || n.kind != kScalar || n.tag != "!!int" && n.tag != "!!str" {
		return 0, false
	}
	i, err := strconv.Atoi(n.value)
	return i, err == nil
}
