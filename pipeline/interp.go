package pipeline

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// scope is what ${...} may name when a file is read: env variables defined
// in the file (top level, then the step's own, earlier entries first) and,
// in a matrix step, ${matrix.AXIS}. Secrets are known by name only.
type scope struct {
	vars    map[string]string
	secrets map[string]bool
	axes    []string          // the step's matrix axes; nil outside a matrix step
	matrix  map[string]string // this expansion's values
}

// with returns a copy of sc in which vars is a fresh map, so that a step can
// add its own env without touching the pipeline's.
func (sc *scope) with() *scope {
	c := *sc
	c.vars = make(map[string]string, len(sc.vars)+4)
	for k, v := range sc.vars {
		c.vars[k] = v
	}
	return &c
}

// expand interpolates a field read at parse time: ${NAME} and ${matrix.AXIS}
// are replaced, $$ is a literal $, any other $ is kept as is.
func (d *decoder) expand(n *yaml.Node, field, s string, sc *scope) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c != '$' || i+1 == len(s):
			b.WriteByte(c)
		case s[i+1] == '$':
			b.WriteByte('$')
			i++
		case s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				d.errorf(n, "close it with }, or write $$ for a literal $", "%s: unclosed ${ in %s", field, quote(s))
				return s
			}
			ref := s[i+2 : i+2+end]
			b.WriteString(d.lookup(n, field, ref, sc))
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// lookup resolves the inside of one ${...}.
func (d *decoder) lookup(n *yaml.Node, field, ref string, sc *scope) string {
	if axis, ok := strings.CutPrefix(ref, "matrix."); ok {
		return d.matrixValue(n, field, axis, sc)
	}
	if !IsEnvName(ref) {
		d.errorf(n, "only ${NAME} and ${matrix.AXIS} are expanded when the file is read; write $$ for a literal $",
			"%s: unsupported expression ${%s}", field, ref)
		return ""
	}
	if v, ok := sc.vars[ref]; ok {
		return v
	}
	if sc.secrets[ref] {
		d.errorf(n, "use $"+ref+" in run, where the shell expands it",
			"%s: %s is a secret: its value is not known when the file is read", field, ref)
		return ""
	}
	d.errorf(n, "define "+ref+" in env (top level or the step's), or write $${"+ref+"} for a literal ${"+ref+"}",
		"%s: unknown variable ${%s}", field, ref)
	return ""
}

func (d *decoder) matrixValue(n *yaml.Node, field, axis string, sc *scope) string {
	if sc.axes == nil {
		d.errorf(n, "add a matrix: to the step, or remove the reference", "%s: ${matrix.%s} in a step without a matrix", field, axis)
		return ""
	}
	if v, ok := sc.matrix[axis]; ok {
		return v
	}
	d.errorf(n, d.suggestHint(axis, sc.axes, "the axes are "+strings.Join(sc.axes, ", ")),
		"%s: no matrix axis %s", field, quote(axis))
	return ""
}

// expandRun interpolates a run script: only ${matrix.AXIS} is replaced;
// everything else, $VAR, ${VAR} and $$ included, is left to the shell.
func (d *decoder) expandRun(n *yaml.Node, field, s string, sc *scope) string {
	const open = "${matrix."
	if !strings.Contains(s, open) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, open)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			d.errorf(n, "close it with }", "%s: unclosed ${matrix.", field)
			return b.String()
		}
		b.WriteString(d.matrixValue(n, field, s[i+len(open):i+end], sc))
		s = s[i+end+1:]
	}
}

// IsEnvName reports whether s is a valid environment variable name: a
// letter or _, then letters, digits and _. The translators (formats/...)
// check variable names with it, as pipe checks env: and $NAME.
func IsEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// IsName reports whether s is a valid name for a step, service, cache or
// matrix value: letters, digits, and _ . - (not first), at most 128 bytes.
// The translators (formats/...) check names with it so that what they emit
// is what pipe accepts.
func IsName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || i > 0 && (c == '_' || c == '.' || c == '-') {
			continue
		}
		return false
	}
	return true
}
