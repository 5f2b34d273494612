package github

import (
	"encoding/json"
	"fmt"
	"strings"
)

func funcNames() []string {
	return []string{"contains", "startsWith", "endsWith", "format", "join", "toJSON", "fromJSON", "hashFiles",
		"success", "failure", "always", "cancelled"}
}

func (e *evaluator) call(n *callNode) (any, error) {
	switch n.name {
	case "success", "failure", "always", "cancelled":
		if len(n.args) != 0 {
			return nil, fmt.Errorf("%s() takes no arguments", n.name)
		}
		if e.status == nil {
			return nil, fmt.Errorf("%s() is only allowed in if:", n.name)
		}
		return e.status(n.name)
	}
	args := make([]any, len(n.args))
	for i, a := range n.args {
		v, err := e.eval(a)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	switch n.name {
	case "contains", "startswith", "endswith":
		return stringTest(n.name, args)
	case "format":
		return format(args)
	case "join":
		return join(args)
	case "tojson":
		if err := arity("toJSON", args, 1, 1); err != nil {
			return nil, err
		}
		if _, ok := args[0].(*dyn); ok {
			return nil, errKnown("toJSON")
		}
		b, err := json.MarshalIndent(args[0], "", "  ")
		return string(b), err
	case "fromjson":
		return fromJSON(args)
	case "hashfiles":
		return e.hash(args)
	}
	return nil, fmt.Errorf("unknown function %s() (functions: %s)", n.name, strings.Join(funcNames(), ", "))
}

func arity(name string, args []any, lo, hi int) error {
	if len(args) < lo || hi >= 0 && len(args) > hi {
		if lo == hi {
			return fmt.Errorf("%s() takes %d argument(s), found %d", name, lo, len(args))
		}
		return fmt.Errorf("%s() takes %d or more arguments, found %d", name, lo, len(args))
	}
	return nil
}

func errKnown(name string) error {
	return fmt.Errorf("%s() needs its arguments known when the workflow is translated (not a step output, $GITHUB_ENV variable or secret)", name)
}

// stringTest is contains, startsWith and endsWith, case-insensitive as in
// GitHub; contains(array, item) tests the elements.
func stringTest(name string, args []any) (any, error) {
	if err := arity(name, args, 2, 2); err != nil {
		return nil, err
	}
	hay, needle := args[0], args[1]
	if list, ok := hay.([]any); ok && name == "contains" {
		for _, x := range list {
			if _, ok := x.(*dyn); !ok && looseEqual(x, needle) {
				return true, nil
			}
		}
		if _, ok := needle.(*dyn); ok {
			return dynIn(list, needle.(*dyn))
		}
		return false, nil
	}
	hd, hok := hay.(*dyn)
	if _, nok := needle.(*dyn); nok {
		return nil, errKnown(name)
	}
	n := toString(needle)
	if hok {
		pat := map[string]string{"contains": "*" + casePattern(n) + "*", "startswith": casePattern(n) + "*", "endswith": "*" + casePattern(n)}[name]
		return &dyn{cond: `case "` + hd.word + `" in ` + pat + `) true;; *) false;; esac`}, nil
	}
	h, l := strings.ToLower(toString(hay)), strings.ToLower(n)
	switch name {
	case "contains":
		return strings.Contains(h, l), nil
	case "startswith":
		return strings.HasPrefix(h, l), nil
	}
	return strings.HasSuffix(h, l), nil
}

// dynIn is contains(['a', 'b'], runtime value).
func dynIn(list []any, d *dyn) (any, error) {
	var pats []string
	for _, x := range list {
		if _, ok := x.(*dyn); ok {
			return nil, errKnown("contains")
		}
		pats = append(pats, casePattern(toString(x)))
	}
	if len(pats) == 0 {
		return false, nil
	}
	return &dyn{cond: `case "` + d.word + `" in ` + strings.Join(pats, "|") + `) true;; *) false;; esac`}, nil
}

// casePattern quotes s for a shell case pattern: a literal.
func casePattern(s string) string { return shQuote(s) }

// shQuote quotes s for the shell, in single quotes.
func shQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// format is format('{0} and {1}', a, b), with {{ and }} for braces.
func format(args []any) (any, error) {
	if err := arity("format", args, 1, -1); err != nil {
		return nil, err
	}
	for _, a := range args {
		if _, ok := a.(*dyn); ok {
			return nil, errKnown("format")
		}
	}
	f := toString(args[0])
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		c := f[i]
		switch {
		case c == '{' && i+1 < len(f) && f[i+1] == '{':
			b.WriteByte('{')
			i++
		case c == '}' && i+1 < len(f) && f[i+1] == '}':
			b.WriteByte('}')
			i++
		case c == '{':
			end := strings.IndexByte(f[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("format: unclosed { in %q", f)
			}
			var k int
			if _, err := fmt.Sscanf(f[i+1:i+end], "%d", &k); err != nil || k < 0 || k+1 >= len(args) {
				return nil, fmt.Errorf("format: {%s} names no argument of %q", f[i+1:i+end], f)
			}
			b.WriteString(toString(args[k+1]))
			i += end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func join(args []any) (any, error) {
	if err := arity("join", args, 1, 2); err != nil {
		return nil, err
	}
	sep := ","
	if len(args) == 2 {
		sep = toString(args[1])
	}
	for _, a := range args {
		if _, ok := a.(*dyn); ok {
			return nil, errKnown("join")
		}
	}
	list, ok := args[0].([]any)
	if !ok {
		return toString(args[0]), nil
	}
	parts := make([]string, len(list))
	for i, x := range list {
		parts[i] = toString(x)
	}
	return strings.Join(parts, sep), nil
}

func fromJSON(args []any) (any, error) {
	if err := arity("fromJSON", args, 1, 1); err != nil {
		return nil, err
	}
	if _, ok := args[0].(*dyn); ok {
		return nil, errKnown("fromJSON")
	}
	var v any
	if err := json.Unmarshal([]byte(toString(args[0])), &v); err != nil {
		return nil, fmt.Errorf("fromJSON: %v", err)
	}
	return v, nil
}

func (e *evaluator) hash(args []any) (any, error) {
	if e.hashFiles == nil {
		return nil, fmt.Errorf("hashFiles() is not available in %s", e.where)
	}
	if err := arity("hashFiles", args, 1, -1); err != nil {
		return nil, err
	}
	pats := make([]string, len(args))
	for i, a := range args {
		if _, ok := a.(*dyn); ok {
			return nil, errKnown("hashFiles")
		}
		pats[i] = toString(a)
	}
	return e.hashFiles(pats)
}
