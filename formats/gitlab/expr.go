package gitlab

import (
	"fmt"
	"regexp"
	"strings"
)

// An expression of rules: if, only/except variables and workflow: rules,
// in GitLab's language: $VAR (true when set and not empty), "string" or
// 'string', null, /regex/flags, the comparisons == != =~ !~, && (binding
// tighter) and ||, and parentheses.

// value is what an operand evaluates to.
type value struct {
	null  bool
	s     string
	regex *regexp.Regexp // a /regex/ literal
}

func (v value) truthy() bool { return !v.null && (v.regex != nil || v.s != "") }

// exprError is a problem of an expression, at a byte offset in it.
type exprError struct {
	off int
	msg string
}

func (e *exprError) Error() string { return e.msg }

type exprParser struct {
	src  string
	pos  int
	vars func(string) (string, bool)
}

// evalExpr evaluates src with the variables vars; the error gives the
// offset of the problem.
func evalExpr(src string, vars func(string) (string, bool)) (result bool, err error) {
	p := &exprParser{src: src, vars: vars}
	defer func() {
		if r := recover(); r != nil {
			e, ok := r.(*exprError)
			if !ok {
				panic(r)
			}
			result, err = false, e
		}
	}()
	v := p.or()
	p.space()
	if p.pos < len(p.src) {
		p.fail("unexpected %q", p.src[p.pos:])
	}
	return v.truthy(), nil
}

func (p *exprParser) fail(format string, args ...any) {
	panic(&exprError{off: p.pos, msg: fmt.Sprintf(format, args...)})
}

func (p *exprParser) space() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t' || p.src[p.pos] == '\n' || p.src[p.pos] == '\r') {
		p.pos++
	}
}

func (p *exprParser) eat(tok string) bool {
	p.space()
	if strings.HasPrefix(p.src[p.pos:], tok) {
		p.pos += len(tok)
		return true
	}
	return false
}

func (p *exprParser) or() value {
	v := p.and()
	for p.eat("||") {
		w := p.and()
		v = boolValue(v.truthy() || w.truthy())
	}
	return v
}

func (p *exprParser) and() value {
	v := p.cmp()
	for p.eat("&&") {
		w := p.cmp()
		v = boolValue(v.truthy() && w.truthy())
	}
	return v
}

func boolValue(b bool) value {
	if b {
		return value{s: "true"}
	}
	return value{s: ""}
}

func (p *exprParser) cmp() value {
	left := p.operand()
	for _, op := range []string{"==", "!=", "=~", "!~"} {
		if !p.eat(op) {
			continue
		}
		right := p.operand()
		switch op {
		case "==":
			return boolValue(equal(left, right))
		case "!=":
			return boolValue(!equal(left, right))
		case "=~":
			return boolValue(p.match(left, right))
		default:
			return boolValue(!p.match(left, right))
		}
	}
	return left
}

func equal(a, b value) bool {
	if a.null || b.null {
		return a.null == b.null
	}
	return a.s == b.s
}

// match applies the regex right (a literal, or a variable holding
// /regex/) to left.
func (p *exprParser) match(left, right value) bool {
	re := right.regex
	if re == nil && !right.null {
		re = p.compileRegex(right.s)
	}
	if re == nil || left.null {
		return false
	}
	return re.MatchString(left.s)
}

// compileRegex compiles "/pattern/flags" (or a bare pattern, from a variable).
func (p *exprParser) compileRegex(s string) *regexp.Regexp {
	pat, flags := s, ""
	if len(s) >= 2 && s[0] == '/' {
		if end := strings.LastIndexByte(s, '/'); end > 0 {
			pat, flags = s[1:end], s[end+1:]
		}
	}
	prefix := ""
	for _, f := range flags {
		switch f {
		case 'i', 'm', 's':
			prefix += string(f)
		default:
			p.fail("regex %s: unknown flag %q (GitLab knows i, m, s)", s, f)
		}
	}
	if prefix != "" {
		pat = "(?" + prefix + ")" + pat
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		p.fail("regex %s: %v", s, err)
	}
	return re
}

func (p *exprParser) operand() value {
	p.space()
	if p.pos >= len(p.src) {
		p.fail("expression ends where a value is expected")
	}
	switch c := p.src[p.pos]; {
	case c == '(':
		p.pos++
		v := p.or()
		if !p.eat(")") {
			p.fail("missing )")
		}
		return v
	case c == '$':
		return p.variable()
	case c == '"' || c == '\'':
		return value{s: p.quoted(c)}
	case c == '/':
		return value{regex: p.regexLiteral()}
	case strings.HasPrefix(p.src[p.pos:], "null"):
		p.pos += 4
		return value{null: true}
	}
	p.fail("unexpected %q: write $VARIABLE, \"string\", /regex/ or null", p.src[p.pos:])
	return value{}
}

func (p *exprParser) variable() value {
	p.pos++ // $
	braces := p.pos < len(p.src) && p.src[p.pos] == '{'
	if braces {
		p.pos++
	}
	start := p.pos
	for p.pos < len(p.src) && isVarChar(p.src[p.pos]) {
		p.pos++
	}
	name := p.src[start:p.pos]
	if name == "" {
		p.fail("$ without a variable name")
	}
	if braces && !p.eat("}") {
		p.fail("missing } after ${%s", name)
	}
	v, ok := p.vars(name)
	if !ok {
		return value{null: true}
	}
	return value{s: v}
}

func isVarChar(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

func (p *exprParser) quoted(q byte) string {
	p.pos++
	end := strings.IndexByte(p.src[p.pos:], q)
	if end < 0 {
		p.fail("unclosed string")
	}
	s := p.src[p.pos : p.pos+end]
	p.pos += end + 1
	return s
}

// regexLiteral reads /pattern/flags; \/ is a slash inside the pattern.
func (p *exprParser) regexLiteral() *regexp.Regexp {
	start := p.pos
	i := p.pos + 1
	for ; i < len(p.src); i++ {
		if p.src[i] == '\\' {
			i++
			continue
		}
		if p.src[i] == '/' {
			break
		}
	}
	if i >= len(p.src) {
		p.fail("unclosed regex")
	}
	j := i + 1
	for j < len(p.src) && 'a' <= p.src[j] && p.src[j] <= 'z' {
		j++
	}
	p.pos = j
	lit := strings.ReplaceAll(p.src[start:i], `\/`, "/") + p.src[i:j]
	return p.compileRegex(lit)
}
