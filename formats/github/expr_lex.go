package github

import (
	"fmt"
	"strconv"
	"strings"
)

// tokKind is the kind of one token of a GitHub expression.
type tokKind int

const (
	tokEOF tokKind = iota
	tokIdent
	tokNumber
	tokString
	tokPunct // ( ) [ ] . , ! && || == != < <= > >= *
)

type token struct {
	kind tokKind
	text string  // the identifier, punctuation or string value
	num  float64 // tokNumber
	off  int     // byte offset in the expression
}

// lex splits an expression into tokens.
func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			t, n, err := lexString(s, i)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
			i = n
		case isIdentStart(c):
			j := i + 1
			for j < len(s) && (isIdentStart(s[j]) || s[j] >= '0' && s[j] <= '9' || s[j] == '-') {
				j++
			}
			out = append(out, token{kind: tokIdent, text: s[i:j], off: i})
			i = j
		case c >= '0' && c <= '9' || c == '-' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			t, n, err := lexNumber(s, i)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
			i = n
		default:
			p := punct(s[i:])
			if p == "" {
				return nil, fmt.Errorf("unexpected character %q at offset %d", c, i)
			}
			out = append(out, token{kind: tokPunct, text: p, off: i})
			i += len(p)
		}
	}
	return append(out, token{kind: tokEOF, off: len(s)}), nil
}

func isIdentStart(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func punct(s string) string {
	for _, p := range []string{"&&", "||", "==", "!=", "<=", ">="} {
		if strings.HasPrefix(s, p) {
			return p
		}
	}
	if strings.IndexByte("()[].,!<>*", s[0]) >= 0 {
		return s[:1]
	}
	return ""
}

// lexString reads a single-quoted string; ” is a quote.
func lexString(s string, i int) (token, int, error) {
	var b strings.Builder
	for j := i + 1; j < len(s); j++ {
		if s[j] != '\'' {
			b.WriteByte(s[j])
			continue
		}
		if j+1 < len(s) && s[j+1] == '\'' {
			b.WriteByte('\'')
			j++
			continue
		}
		return token{kind: tokString, text: b.String(), off: i}, j + 1, nil
	}
	return token{}, 0, fmt.Errorf("unclosed string starting at offset %d (strings use single quotes)", i)
}

func lexNumber(s string, i int) (token, int, error) {
	j := i + 1
	for j < len(s) && (s[j] >= '0' && s[j] <= '9' || strings.IndexByte(".xXabcdefABCDEF+-", s[j]) >= 0 && !(s[j] == '-' || s[j] == '+') || (s[j] == '-' || s[j] == '+') && (s[j-1] == 'e' || s[j-1] == 'E')) {
		j++
	}
	text := s[i:j]
	var v float64
	if n, err := strconv.ParseInt(text, 0, 64); err == nil {
		v = float64(n)
	} else if f, err := strconv.ParseFloat(text, 64); err == nil {
		v = f
	} else {
		return token{}, 0, fmt.Errorf("invalid number %q", text)
	}
	return token{kind: tokNumber, text: text, num: v, off: i}, j, nil
}
