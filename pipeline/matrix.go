package pipeline

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// axis is one matrix axis with its values in file order.
type axis struct {
	name   string
	values []string
}

// matrix decodes a step's matrix: axis -> list of values.
func (ps *parser) matrix(n *yaml.Node, field string) []axis {
	var out []axis
	size := 1
	for _, e := range ps.mapping(n, field, "matrix: {go: [\"1.21\", \"1.22\"]}") {
		if !IsEnvName(e.key) {
			ps.errorf(e.k, "use letters, digits and _, not starting with a digit", "%s: %s is not a valid axis name", field, quote(e.key))
			continue
		}
		a := axis{name: e.key}
		values, nodes := ps.strs(e.v, field+"."+e.key, e.key+`: ["1.21", "1.22"]`)
		seen := map[string]*yaml.Node{}
		for i, v := range values {
			switch {
			case !IsMatrixValue(v):
				ps.errorf(nodes[i], "use letters, digits and . _ - + : / @ only", "%s.%s: %s cannot be part of a step name", field, e.key, quote(v))
			case seen[v] != nil:
				ps.errorf(nodes[i], "remove one: each value names one expanded step", "%s.%s: matrix expansions collide: value %s is listed twice (first at line %d)", field, e.key, quote(v), seen[v].Line)
			default:
				seen[v] = nodes[i]
				a.values = append(a.values, v)
			}
		}
		if len(a.values) == 0 {
			if len(values) == 0 {
				ps.errorf(e.v, "list at least one value", "%s.%s has no values", field, e.key)
			}
			continue
		}
		out = append(out, a)
		if size *= len(a.values); size > MaxMatrixSize {
			ps.errorf(e.k, "split the step or drop values", "%s has more than %d combinations", field, MaxMatrixSize)
			return firstValues(out)
		}
	}
	if len(out) == 0 && deref(n) != nil && deref(n).Kind == yaml.MappingNode && len(deref(n).Content) == 0 {
		ps.errorf(n, "add an axis, or remove matrix:", "%s is empty", field)
	}
	return out
}

// IsMatrixValue reports whether v can appear in a step name that is easy to
// type on a command line: printable ASCII without spaces, quotes, $ , = [ ],
// at most 128 bytes. The translators check matrix values with it.
func IsMatrixValue(v string) bool {
	if v == "" || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`,=[]$'"\`+"`", c) >= 0 {
			return false
		}
	}
	return true
}

// combos returns every combination of the axes' values, the first axis
// varying slowest, so expansions read in file order.
func combos(axes []axis) [][]MatrixValue {
	out := [][]MatrixValue{nil}
	for _, a := range axes {
		next := make([][]MatrixValue, 0, len(out)*len(a.values))
		for _, prefix := range out {
			for _, v := range a.values {
				c := make([]MatrixValue, len(prefix), len(prefix)+1)
				copy(c, prefix)
				next = append(next, append(c, MatrixValue{Axis: a.name, Value: v}))
			}
		}
		out = next
	}
	return out
}

// expandedName is the name of one expansion: base[axis=value,...].
func expandedName(base string, m []MatrixValue) string {
	if len(m) == 0 {
		return base
	}
	var b strings.Builder
	b.WriteString(base)
	b.WriteByte('[')
	for i, v := range m {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(v.Axis)
		b.WriteByte('=')
		b.WriteString(v.Value)
	}
	b.WriteByte(']')
	return b.String()
}

// firstValues keeps one value per axis: the step of an oversized matrix is
// still expanded once, so that its ${matrix...} references are checked.
func firstValues(axes []axis) []axis {
	for i := range axes {
		axes[i].values = axes[i].values[:1]
	}
	return axes
}
