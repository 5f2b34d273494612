package github

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/pipe-run/pipe/pipeline"
	"gopkg.in/yaml.v3"
)

// A job whose matrix is a plain product of values, and whose combinations
// differ only where they use those values, becomes one pipe step with a
// pipe matrix: test[go=1.22] and test[go=1.21], which pipe run test selects
// together. Any other matrix (include, exclude, a combination left out, an
// expression that decides on a value) gives one step per combination.

// matrixAxis is one axis of the pipe matrix of a job.
type matrixAxis struct {
	key      string // the GitHub matrix key
	name     string // the pipe axis: the key with what a variable name cannot hold replaced
	values   []string
	sentinel string // stands for the value in the template translation
}

// productAxes returns the axes of combos when they are exactly the product
// of their keys' values (first key slowest) and the values can name pipe
// matrix expansions. Keys with one value are no axis.
func productAxes(combos []combo) ([]matrixAxis, bool) {
	if len(combos) < 2 {
		return nil, false
	}
	keys := combos[0].keys
	var axes []matrixAxis
	size := 1
	names := map[string]bool{}
	all := map[string][]string{}
	for _, k := range keys {
		var vals []string
		for _, c := range combos {
			if len(c.keys) != len(keys) {
				return nil, false
			}
			s, ok := scalarString(c.vals[k])
			if !ok || !pipeline.IsMatrixValue(s) {
				return nil, false
			}
			if !contains(vals, s) {
				vals = append(vals, s)
			}
		}
		all[k] = vals
		size *= len(vals)
		if len(vals) < 2 {
			continue
		}
		name := axisName(k)
		if names[name] {
			return nil, false
		}
		names[name] = true
		axes = append(axes, matrixAxis{key: k, name: name, values: vals, sentinel: fmt.Sprintf("__pipe_matrix_%d__", len(axes))})
	}
	if size != len(combos) || len(axes) == 0 {
		return nil, false
	}
	// the combinations must come in product order, first key slowest
	i := 0
	var walk func(d int, prefix map[string]string) bool
	walk = func(d int, prefix map[string]string) bool {
		if d == len(keys) {
			for k, v := range prefix {
				if s, _ := scalarString(combos[i].vals[k]); s != v {
					return false
				}
			}
			i++
			return true
		}
		for _, v := range all[keys[d]] {
			prefix[keys[d]] = v
			if !walk(d+1, prefix) {
				return false
			}
		}
		return true
	}
	return axes, walk(0, map[string]string{})
}

func scalarString(v any) (string, bool) {
	switch v.(type) {
	case string, float64, bool:
		return toString(v), true
	}
	return "", false
}

func axisName(k string) string {
	var b strings.Builder
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		s = "_" + s
	}
	return s
}

// translateMatrix tries the job as one step with a pipe matrix: it
// translates the job once with placeholders for the axes' values, and once
// per combination; when every combination is the placeholder one with its
// values put in, the placeholder step replaces them. It reports whether it
// translated the job (either way).
func (t *translator) translateMatrix(j *job) bool {
	axes, ok := productAxes(j.combos)
	if !ok {
		return false
	}
	tmplStep := t.placeholderStep(j, axes)
	mark := len(t.out.steps)
	for i, c := range j.combos {
		t.translateCombo(j, c, j.names[i])
	}
	real := t.out.steps[mark:]
	j.dropped = len(real) == 0
	if tmplStep == nil || len(real) != len(j.combos) {
		return true
	}
	for i, s := range real {
		if !sameStep(tmplStep, s, axes, j.combos[i]) {
			return true
		}
	}
	tmplStep.axes = axes
	keys := make([]string, 0, 2*len(axes))
	for _, a := range axes {
		keys = append(keys, a.sentinel, a.key)
	}
	tmplStep.comment = strings.NewReplacer(keys...).Replace(tmplStep.comment)
	t.out.steps = append(t.out.steps[:mark], tmplStep)
	j.names = []string{j.id}
	return true
}

// placeholderStep translates the job with placeholders for the axes'
// values, leaving nothing of it behind but the step it returns (nil when
// the translation fails).
func (t *translator) placeholderStep(j *job, axes []matrixAxis) *pipeStep {
	c := j.combos[0].clone()
	for _, a := range axes {
		c.vals[a.key] = a.sentinel
	}
	nErrs, nWarns, nSteps, nSvcs := len(t.errs), len(t.warns), len(t.out.steps), len(t.out.services)
	secrets, caches := len(t.out.secrets), len(t.out.caches)
	ok := t.translateCombo(j, c, j.id)
	var s *pipeStep
	if ok && len(t.errs) == nErrs && len(t.out.steps) == nSteps+1 {
		s = t.out.steps[nSteps]
	}
	for _, svc := range t.out.services[nSvcs:] {
		delete(t.services, svc.name)
	}
	t.errs, t.warns = t.errs[:nErrs], t.warns[:nWarns]
	t.out.steps, t.out.services = t.out.steps[:nSteps], t.out.services[:nSvcs]
	t.out.secrets, t.out.caches = t.out.secrets[:secrets], t.out.caches[:caches]
	return s
}

// sameStep reports whether the combination's step is the placeholder step
// with the combination's values in place of the placeholders.
func sameStep(tmplStep, s *pipeStep, axes []matrixAxis, c combo) bool {
	r := make([]string, 0, 2*len(axes))
	for _, a := range axes {
		v, _ := scalarString(c.vals[a.key])
		r = append(r, a.sentinel, v)
	}
	put := strings.NewReplacer(r...)
	a, b := comparable(tmplStep, put), comparable(s, strings.NewReplacer())
	return reflect.DeepEqual(a, b)
}

// comparable is what of a step must be equal between two translations.
func comparable(s *pipeStep, r *strings.Replacer) []any {
	strs := func(list []string) []string {
		out := make([]string, len(list))
		for i, x := range list {
			out[i] = r.Replace(x)
		}
		return out
	}
	env := make([]string, len(s.env))
	for i, e := range s.env {
		env[i] = e.name + "=" + r.Replace(e.value)
	}
	return []any{r.Replace(s.image), strs(s.needs), env, strs(s.secrets), strs(s.services), strs(s.caches),
		s.timeout, r.Replace(s.user), strs(s.branch), strs(s.event), s.status, s.manual, s.allow, strs(s.outputs), strs(s.run)}
}

// matrixNode is the matrix: of a step.
func matrixNode(axes []matrixAxis) *yaml.Node {
	m := mapNode()
	for _, a := range axes {
		add(m, a.name, flowList(a.values))
	}
	return m
}

// putAxes replaces the placeholders in every scalar under n with
// ${matrix.AXIS}, which pipe expands for each expansion.
func putAxes(n *yaml.Node, axes []matrixAxis) {
	r := make([]string, 0, 2*len(axes))
	for _, a := range axes {
		r = append(r, a.sentinel, "${matrix."+a.name+"}")
	}
	rep := strings.NewReplacer(r...)
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode {
			n.Value = rep.Replace(n.Value)
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
}
