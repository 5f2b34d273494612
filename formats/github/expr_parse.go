package github

import (
	"fmt"
	"strings"
)

// node is a parsed expression.
type node interface{}

type (
	litNode  struct{ v any }
	refNode  struct{ name string } // a context name: github, matrix, ...
	propNode struct {              // x.name, x['name'], x[expr]
		x    node
		name string // when key is nil
		key  node
	}
	starNode   struct{ x node } // x.*
	notNode    struct{ x node }
	binaryNode struct {
		op   string
		l, r node
	}
	callNode struct {
		name string // lower case
		args []node
	}
)

// maxExprDepth bounds the nesting of an expression.
const maxExprDepth = 100

type exprParser struct {
	toks  []token
	i     int
	depth int
}

// parseExpr parses one GitHub expression (the inside of ${{ }}).
func parseExpr(s string) (node, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &exprParser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, fmt.Errorf("unexpected %s at offset %d", t.describe(), t.off)
	}
	return n, nil
}

func (t token) describe() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokString:
		return "string '" + t.text + "'"
	}
	return fmt.Sprintf("%q", t.text)
}

func (p *exprParser) peek() token { return p.toks[p.i] }
func (p *exprParser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *exprParser) is(text string) bool {
	t := p.peek()
	return t.kind == tokPunct && t.text == text
}

func (p *exprParser) expect(text string) error {
	if !p.is(text) {
		t := p.peek()
		return fmt.Errorf("expected %q, found %s at offset %d", text, t.describe(), t.off)
	}
	p.i++
	return nil
}

func (p *exprParser) binary(ops []string, sub func() (node, error)) (node, error) {
	l, err := sub()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tokPunct || !contains(ops, t.text) {
			return l, nil
		}
		p.i++
		r, err := sub()
		if err != nil {
			return nil, err
		}
		l = &binaryNode{op: t.text, l: l, r: r}
	}
}

func (p *exprParser) or() (node, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxExprDepth {
		return nil, fmt.Errorf("expression nested more than %d levels", maxExprDepth)
	}
	return p.binary([]string{"||"}, p.and)
}
func (p *exprParser) and() (node, error) { return p.binary([]string{"&&"}, p.eq) }
func (p *exprParser) eq() (node, error)  { return p.binary([]string{"==", "!="}, p.cmp) }
func (p *exprParser) cmp() (node, error) {
	return p.binary([]string{"<", "<=", ">", ">="}, p.unary)
}

func (p *exprParser) unary() (node, error) {
	if p.is("!") {
		p.i++
		p.depth++
		defer func() { p.depth-- }()
		if p.depth > maxExprDepth {
			return nil, fmt.Errorf("expression nested more than %d levels", maxExprDepth)
		}
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &notNode{x: x}, nil
	}
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	return p.postfix(x)
}

func (p *exprParser) primary() (node, error) {
	t := p.next()
	switch t.kind {
	case tokString:
		return &litNode{v: t.text}, nil
	case tokNumber:
		return &litNode{v: t.num}, nil
	case tokIdent:
		return p.ident(t)
	case tokPunct:
		if t.text == "(" {
			x, err := p.or()
			if err != nil {
				return nil, err
			}
			return x, p.expect(")")
		}
	}
	return nil, fmt.Errorf("unexpected %s at offset %d", t.describe(), t.off)
}

func (p *exprParser) ident(t token) (node, error) {
	switch t.text {
	case "true":
		return &litNode{v: true}, nil
	case "false":
		return &litNode{v: false}, nil
	case "null":
		return &litNode{v: nil}, nil
	case "NaN", "Infinity":
		return nil, fmt.Errorf("%s is not supported in expressions", t.text)
	}
	if !p.is("(") {
		return &refNode{name: strings.ToLower(t.text)}, nil
	}
	p.i++
	c := &callNode{name: strings.ToLower(t.text)}
	for !p.is(")") {
		if len(c.args) > 0 {
			if err := p.expect(","); err != nil {
				return nil, err
			}
		}
		a, err := p.or()
		if err != nil {
			return nil, err
		}
		c.args = append(c.args, a)
	}
	p.i++
	return c, nil
}

func (p *exprParser) postfix(x node) (node, error) {
	for {
		switch {
		case p.is("."):
			p.i++
			t := p.next()
			switch {
			case t.kind == tokIdent:
				x = &propNode{x: x, name: t.text}
			case t.kind == tokPunct && t.text == "*":
				x = &starNode{x: x}
			default:
				return nil, fmt.Errorf("expected a property name after '.', found %s at offset %d", t.describe(), t.off)
			}
		case p.is("["):
			p.i++
			if p.is("*") {
				p.i++
				x = &starNode{x: x}
			} else {
				k, err := p.or()
				if err != nil {
					return nil, err
				}
				x = &propNode{x: x, key: k}
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
		default:
			return x, nil
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
