package gitlab

import (
	"github.com/pipe-run/pipe/pipeline"
)

// variable is one entry of a variables: mapping.
type variable struct {
	name   string
	value  string
	expand bool // $VAR references in value are expanded (expand: false turns it off)
	pos    pipeline.Pos
}

// variables reads a variables: mapping: NAME: value, or NAME: {value,
// description, expand, options}.
func (t *translator) variables(n *node, field string) []variable {
	if n.isNull() {
		return nil
	}
	if !n.isMap() {
		t.errorf(n.pos, "write variables: {NAME: value}", "%s: expected a mapping, found %s", field, kindName(n))
		return nil
	}
	var out []variable
	for i, k := range n.keys {
		v := n.vals[i]
		if !pipeline.IsEnvName(k.value) {
			t.errorf(k.pos, "use letters, digits and _, not starting with a digit", "%s: %q is not a valid variable name", field, k.value)
			continue
		}
		va := variable{name: k.value, expand: true, pos: k.pos}
		switch {
		case v.isMap():
			t.variableMapping(&va, v, field+"."+k.value)
		case v.kind == kScalar:
			va.value = v.value // numbers and booleans keep their spelling; null is ""
			if v.isNull() {
				va.value = ""
			}
		default:
			t.errorf(v.pos, "write NAME: value", "%s.%s: expected a value, found %s", field, k.value, kindName(v))
			continue
		}
		out = append(out, va)
	}
	return out
}

func (t *translator) variableMapping(va *variable, v *node, field string) {
	for i, k := range v.keys {
		x := v.vals[i]
		switch k.value {
		case "value":
			va.value = strValue(x)
		case "expand":
			if b, ok := boolOf(x); ok {
				va.expand = b
			} else {
				t.errorf(x.pos, "write expand: false", "%s.expand: expected true or false, found %s", field, kindName(x))
			}
		case "description", "options":
		default:
			t.errorf(k.pos, "known keys: value, description, expand, options", "%s: unknown key %q", field, k.value)
		}
	}
}

// maxValue is the longest value a variable may expand to.
const maxValue = 1 << 16

// setVariables sets list over vs, expanding each value's $VAR references
// with the list's other entries (recursively, as GitLab's runner expands
// them, up to 10 levels: a cycle stops there) and with what vs holds
// already (as it is).
func (t *translator) setVariables(vs *vars, list []variable) {
	entry := map[string]variable{}
	for _, v := range list {
		entry[v.name] = v
	}
	memo := map[string]string{}
	reported := false
	var value func(name string, depth int) (string, bool)
	value = func(name string, depth int) (string, bool) {
		v, ok := entry[name]
		if !ok {
			return vs.get(name)
		}
		if out, done := memo[name]; done {
			return out, true
		}
		if !v.expand || depth >= 10 {
			return v.value, true
		}
		out := expandVars(v.value, func(n string) (string, bool) { return value(n, depth+1) })
		if len(out) > maxValue {
			if !reported {
				t.errorf(v.pos, "expand fewer variables into it", "variable %s expands to more than %d bytes", v.name, maxValue)
				reported = true
			}
			out = out[:maxValue]
		}
		memo[name] = out
		return out, true
	}
	resolved := make([]string, len(list))
	for i, v := range list {
		resolved[i], _ = value(v.name, 0)
	}
	for i, v := range list {
		vs.set(v.name, resolved[i])
	}
}
