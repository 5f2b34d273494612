package github

import (
	"errors"
	"fmt"
	"strings"
)

// tmpl is a string of the workflow after its ${{ }} expressions were
// evaluated: literal text and values known only when the job runs.
type tmpl []tpart

type tpart struct {
	s string // literal text, when d is nil
	d *dyn
}

// static returns the text when every part is known.
func (t tmpl) static() (string, bool) {
	var b strings.Builder
	for _, p := range t {
		if p.d != nil {
			return "", false
		}
		b.WriteString(p.s)
	}
	return b.String(), true
}

// dquoted returns the shell text of t inside double quotes (without them).
func (t tmpl) dquoted() string {
	var b strings.Builder
	for _, p := range t {
		if p.d != nil {
			b.WriteString(p.d.word)
		} else {
			b.WriteString(dquoteEscape(p.s))
		}
	}
	return b.String()
}

// spanError is an error in the ${{ }} at byte offset off of a string.
type spanError struct {
	off int
	err error
}

func (e *spanError) Error() string { return e.err.Error() }

// errorOffset is where in a string an evaluation error is.
func errorOffset(s string, err error) int {
	var se *spanError
	if errors.As(err, &se) {
		return se.off
	}
	return max(strings.Index(s, "${{"), 0)
}

// exprSpan is one ${{ }} of a string.
type exprSpan struct {
	start, end int // s[start:end] is "${{ ... }}"
	inner      string
}

// findExprs finds the ${{ }} of s; a }} inside a quoted string does not
// close one.
func findExprs(s string) ([]exprSpan, error) {
	var out []exprSpan
	for i := 0; i < len(s); {
		j := strings.Index(s[i:], "${{")
		if j < 0 {
			break
		}
		start := i + j
		end, err := exprEnd(s, start+3)
		if err != nil {
			return nil, err
		}
		out = append(out, exprSpan{start: start, end: end, inner: strings.TrimSpace(s[start+3 : end-2])})
		i = end
	}
	return out, nil
}

func exprEnd(s string, i int) (int, error) {
	for i < len(s) {
		switch {
		case s[i] == '\'':
			k := i + 1
			for k < len(s) && (s[k] != '\'' || k+1 < len(s) && s[k+1] == '\'') {
				if s[k] == '\'' {
					k++
				}
				k++
			}
			if k >= len(s) {
				return 0, fmt.Errorf("unclosed string in ${{ }}")
			}
			i = k + 1
		case strings.HasPrefix(s[i:], "}}"):
			return i + 2, nil
		default:
			i++
		}
	}
	return 0, fmt.Errorf("unclosed ${{ (close it with }})")
}

// evalString evaluates the ${{ }} of s. whole is true when s is exactly one
// ${{ }}, whose value (of any type) is then returned in v.
func (e *evaluator) evalString(s string) (t tmpl, v any, whole bool, err error) {
	spans, err := findExprs(s)
	if err != nil {
		return nil, nil, false, err
	}
	if len(spans) == 1 && spans[0].start == 0 && spans[0].end == len(s) {
		v, err := e.evalExpr(spans[0].inner)
		if err != nil {
			return nil, nil, false, err
		}
		return tmplOf(v), v, true, nil
	}
	prev := 0
	for _, sp := range spans {
		if sp.start > prev {
			t = append(t, tpart{s: s[prev:sp.start]})
		}
		v, err := e.evalExpr(sp.inner)
		if err != nil {
			return nil, nil, false, &spanError{off: sp.start, err: err}
		}
		t = append(t, tmplOf(v)...)
		prev = sp.end
	}
	if prev < len(s) {
		t = append(t, tpart{s: s[prev:]})
	}
	return t, nil, false, nil
}

func tmplOf(v any) tmpl {
	if d, ok := v.(*dyn); ok {
		if d.word == "" {
			// a condition lands in text: the shell prints true or false
			return tmpl{{d: &dyn{word: "$(if " + d.cond + "; then echo true; else echo false; fi)"}}}
		}
		return tmpl{{d: d}}
	}
	return tmpl{{s: toString(v)}}
}

func (e *evaluator) evalExpr(s string) (any, error) {
	if s == "" {
		return nil, fmt.Errorf("empty ${{ }}")
	}
	n, err := parseExpr(s)
	if err != nil {
		return nil, fmt.Errorf("in ${{ %s }}: %v", s, err)
	}
	v, err := e.eval(n)
	if err != nil {
		return nil, fmt.Errorf("in ${{ %s }}: %v", s, err)
	}
	return v, nil
}

// evalCondition evaluates an if: value, with or without ${{ }}.
func (e *evaluator) evalCondition(s string) (any, node, error) {
	s = strings.TrimSpace(s)
	inner := s
	if spans, err := findExprs(s); err == nil && len(spans) == 1 && spans[0].start == 0 && spans[0].end == len(s) {
		inner = spans[0].inner
	} else if err == nil && len(spans) > 0 {
		t, _, _, err := e.evalString(s)
		if err != nil {
			return nil, nil, err
		}
		if st, ok := t.static(); ok {
			return st != "", nil, nil
		}
		return nil, nil, fmt.Errorf("write the whole condition as one expression, without ${{ }} inside text")
	}
	n, err := parseExpr(inner)
	if err != nil {
		return nil, nil, fmt.Errorf("in if: %s: %v", inner, err)
	}
	v, err := e.eval(n)
	if err != nil {
		return nil, nil, fmt.Errorf("in if: %s: %v", inner, err)
	}
	return v, n, nil
}

// hasStatus reports whether an expression calls a status function.
func hasStatus(n node) bool {
	switch n := n.(type) {
	case *callNode:
		if n.name == "success" || n.name == "failure" || n.name == "always" || n.name == "cancelled" {
			return true
		}
		for _, a := range n.args {
			if hasStatus(a) {
				return true
			}
		}
	case *notNode:
		return hasStatus(n.x)
	case *binaryNode:
		return hasStatus(n.l) || hasStatus(n.r)
	case *propNode:
		return hasStatus(n.x) || n.key != nil && hasStatus(n.key)
	case *starNode:
		return hasStatus(n.x)
	}
	return false
}
