package github

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// combo is one combination of a matrix: its keys in order and their values.
type combo struct {
	keys []string
	vals map[string]any
}

func (c combo) clone() combo {
	out := combo{keys: append([]string(nil), c.keys...), vals: make(map[string]any, len(c.vals))}
	for k, v := range c.vals {
		out.vals[k] = v
	}
	return out
}

func (c combo) context() map[string]any {
	m := make(map[string]any, len(c.vals))
	for k, v := range c.vals {
		m[k] = v
	}
	return m
}

// maxCombos bounds a matrix, as GitHub does (256 jobs per matrix).
const maxCombos = 256

// expandMatrix computes a strategy.matrix's combinations as GitHub does:
// the product of the vectors, minus exclude, then include entries merged
// into the combinations whose original values they do not change, or added
// as their own combinations.
func (t *translator) expandMatrix(n *yaml.Node, ev *evaluator) ([]combo, bool) {
	v, ok := t.evalValue(n, ev, "strategy.matrix")
	if !ok {
		return nil, false
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		t.d.errorf(n, "write the vectors: matrix: {go: ['1.21', '1.22']}", "strategy.matrix: expected a mapping, found %s", describe(v))
		return nil, false
	}
	keys := matrixKeys(n, m)
	var vectors []string
	for _, k := range keys {
		if k != "include" && k != "exclude" {
			vectors = append(vectors, k)
		}
	}
	combos := []combo{{vals: map[string]any{}}}
	for _, k := range vectors {
		list, ok := m[k].([]any)
		if !ok || len(list) == 0 {
			t.d.errorf(n, "give "+k+" a list of values", "strategy.matrix.%s: expected a non-empty list, found %s", k, describe(m[k]))
			return nil, false
		}
		var next []combo
		for _, c := range combos {
			for _, x := range list {
				nc := c.clone()
				nc.keys = append(nc.keys, k)
				nc.vals[k] = x
				next = append(next, nc)
			}
		}
		if combos = next; len(combos) > maxCombos {
			t.d.errorf(n, "drop values or split the job", "strategy.matrix has more than %d combinations", maxCombos)
			return nil, false
		}
	}
	if len(vectors) == 0 {
		combos = nil
	}
	combos, ok = t.exclude(n, combos, m["exclude"])
	if !ok {
		return nil, false
	}
	combos, ok = t.include(n, combos, vectors, m["include"])
	if !ok {
		return nil, false
	}
	if len(combos) == 0 {
		t.d.errorf(n, "give the matrix a vector or an include entry", "strategy.matrix has no combination")
		return nil, false
	}
	return combos, true
}

// matrixKeys returns the matrix's keys in file order when the matrix was
// written as a mapping, else sorted.
func matrixKeys(n *yaml.Node, m map[string]any) []string {
	var keys []string
	if n = deref(n); n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if _, ok := m[n.Content[i].Value]; ok && !contains(keys, n.Content[i].Value) {
				keys = append(keys, n.Content[i].Value)
			}
		}
		if len(keys) == len(m) {
			return keys
		}
	}
	keys = keys[:0]
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}

func (t *translator) exclude(n *yaml.Node, combos []combo, x any) ([]combo, bool) {
	if x == nil {
		return combos, true
	}
	list, ok := x.([]any)
	if !ok {
		t.d.errorf(n, "write a list of partial combinations", "strategy.matrix.exclude: expected a list, found %s", describe(x))
		return nil, false
	}
	var out []combo
	for _, c := range combos {
		drop := false
		for _, e := range list {
			em, ok := e.(map[string]any)
			if !ok {
				t.d.errorf(n, "each exclude entry is a mapping", "strategy.matrix.exclude: expected a mapping, found %s", describe(e))
				return nil, false
			}
			if matches(c, em) {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, c)
		}
	}
	return out, true
}

func matches(c combo, partial map[string]any) bool {
	for k, v := range partial {
		cv, ok := c.vals[k]
		if !ok || !reflect.DeepEqual(cv, v) && !looseEqual(cv, v) {
			return false
		}
	}
	return true
}

func (t *translator) include(n *yaml.Node, combos []combo, vectors []string, x any) ([]combo, bool) {
	if x == nil {
		return combos, true
	}
	list, ok := x.([]any)
	if !ok {
		t.d.errorf(n, "write a list of combinations", "strategy.matrix.include: expected a list, found %s", describe(x))
		return nil, false
	}
	original := len(combos)
	for _, e := range list {
		em, ok := e.(map[string]any)
		if !ok {
			t.d.errorf(n, "each include entry is a mapping", "strategy.matrix.include: expected a mapping, found %s", describe(e))
			return nil, false
		}
		keys := sortedKeys(em)
		merged := false
		for i := 0; i < original; i++ {
			if !fitsOriginal(combos[i], em, vectors) {
				continue
			}
			for _, k := range keys {
				if _, has := combos[i].vals[k]; !has {
					combos[i].keys = append(combos[i].keys, k)
				}
				combos[i].vals[k] = em[k]
			}
			merged = true
		}
		if !merged {
			c := combo{vals: map[string]any{}}
			for _, k := range keys {
				c.keys = append(c.keys, k)
				c.vals[k] = em[k]
			}
			combos = append(combos, c)
		}
	}
	if len(combos) > maxCombos {
		t.d.errorf(n, "drop values or split the job", "strategy.matrix has more than %d combinations", maxCombos)
		return nil, false
	}
	return combos, true
}

// fitsOriginal: an include entry may be added to a combination when it
// changes none of the combination's original (vector) values.
func fitsOriginal(c combo, e map[string]any, vectors []string) bool {
	for k, v := range e {
		if !contains(vectors, k) {
			continue
		}
		if cv, ok := c.vals[k]; ok && !reflect.DeepEqual(cv, v) && !looseEqual(cv, v) {
			return false
		}
	}
	return true
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case *dyn:
		return "a value known only when the workflow runs"
	}
	return fmt.Sprintf("%q", toString(v))
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}

// comboLabel is the part of a pipe step name that names one combination:
// its values joined by -, reduced to the characters a step name may hold.
func comboLabel(c combo) string {
	var parts []string
	for _, k := range c.keys {
		s := toString(c.vals[k])
		if _, ok := c.vals[k].(map[string]any); ok {
			s = k
		}
		parts = append(parts, sanitizeName(s))
	}
	return strings.Join(parts, "-")
}

// sanitizeName keeps the letters, digits, _ . - of s; others become _.
func sanitizeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() < 40; i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}
