package workspace

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"sync"
	"unicode/utf8"
)

// globMatcher is one compiled glob (the syntax of ignoreList and
// Workspace.Files). Its meaning is a regexp, built from the glob's tokens;
// every path is matched against the tokens directly instead, by a
// position-set walk of linear cost (the regexp backtracks, and matching every
// file of a workspace against every input glob of every step made it most of
// a cached run's time). Paths the walk does not handle exactly as the regexp
// does (a newline, which `.` does not match; bytes that are not UTF-8) are
// matched by the regexp.
type globMatcher struct {
	pattern string // the regexp, compiled on first use (regexp)
	reOnce  sync.Once
	re      *regexp.Regexp
	toks    []globTok
	tree    bool // matches a path or any path under it
	slow    bool // a token the walk cannot take: every path goes to re
	shape   globShape
}

// globShape is a common form of glob matched without the walk.
type globShape uint8

const (
	shapeOther     globShape = iota
	shapeLit                 // "go.mod", "src"
	shapeLitTree             // "testdata/**": everything under a literal directory
	shapeAnySuffix           // "**/*.go": a path element ending with a literal
	shapeAnyName             // "**/go.mod": a path element equal to a literal
)

// globTokKind is what one glob token matches.
type globTokKind uint8

const (
	tokLit       globTokKind = iota // these bytes
	tokStar                         // "*": [^/]*
	tokOne                          // "?": [^/]
	tokClass                        // "[...]": one rune of a class
	tokAnyDirs                      // a leading "**/": (?:.*/)?
	tokSlashAny                     // a trailing "/**": /.*
	tokSlashDirs                    // a middle "/**/": /(?:.*/)?
	tokAny                          // the glob "**": .*
)

// globTok is one token of a glob.
type globTok struct {
	kind   globTokKind
	lit    string // tokLit: the bytes; tokClass: the class as a regexp
	ranges []rune // tokClass: pairs lo, hi of the runes it matches
}

// regexp is the token's meaning as a regexp.
func (t globTok) regexp() string {
	switch t.kind {
	case tokLit:
		return regexp.QuoteMeta(t.lit)
	case tokStar:
		return "[^/]*"
	case tokOne:
		return "[^/]"
	case tokAnyDirs:
		return "(?:.*/)?"
	case tokSlashAny:
		return "/.*"
	case tokSlashDirs:
		return "/(?:.*/)?"
	case tokAny:
		return ".*"
	}
	return t.lit
}

// newGlobMatcher compiles g; with tree it matches what g matches and every
// path under it (one match per path, where testing g on each parent
// directory would take one per path element).
func newGlobMatcher(g string, tree bool) (*globMatcher, error) {
	m := &globMatcher{toks: globTokens(g), tree: tree}
	var b strings.Builder
	b.WriteString("^(?:")
	for _, t := range m.toks {
		b.WriteString(t.regexp())
	}
	b.WriteString(")")
	if tree {
		b.WriteString("(?:/.*)?")
	}
	b.WriteString("$")
	m.pattern = b.String()
	m.shape = shapeOf(m.toks)
	sure := utf8.ValidString(g) && len(m.pattern) < 4096 // then only a class can make the regexp fail
	for i := range m.toks {
		if t := &m.toks[i]; t.kind == tokClass {
			sure = false
			m.slow = m.slow || !t.setRanges()
		}
	}
	if !sure { // compiled now, to report the error
		re, err := regexp.Compile(m.pattern)
		if err != nil {
			return nil, fmt.Errorf("globPattern %q: %w", g, err)
		}
		m.reOnce.Do(func() { m.re = re })
	}
	return m, nil
}

// regexp returns the glob's regexp, compiling it on first use: most globs
// match every path by the walk or a shape, and compiling cost more than
// matching.
func (m *globMatcher) regexp() *regexp.Regexp {
	m.reOnce.Do(func() { m.re = regexp.MustCompile(m.pattern) })
	return m.re
}

// globTokens splits g into tokens, merging adjacent literal bytes.
func globTokens(g string) []globTok {
	var toks []globTok
	for i := 0; i < len(g); {
		t, n := globToken(g, i)
		i += n
		if last := len(toks) - 1; t.kind == tokLit && last >= 0 && toks[last].kind == tokLit {
			toks[last].lit += t.lit
			continue
		}
		toks = append(toks, t)
	}
	return toks
}

// globToken returns the token at g[i:] and its length.
func globToken(g string, i int) (globTok, int) {
	rest := g[i:]
	switch {
	case i == 0 && strings.HasPrefix(rest, "**/"):
		return globTok{kind: tokAnyDirs}, 3
	case rest == "/**":
		return globTok{kind: tokSlashAny}, 3
	case strings.HasPrefix(rest, "/**/"):
		return globTok{kind: tokSlashDirs}, 4
	case rest == "**" && i == 0:
		return globTok{kind: tokAny}, 2
	case rest[0] == '*':
		return globTok{kind: tokStar}, 1
	case rest[0] == '?':
		return globTok{kind: tokOne}, 1
	case rest[0] == '[':
		return globClass(rest)
	case rest[0] == '\\' && len(rest) > 1:
		return globTok{kind: tokLit, lit: rest[1:2]}, 2
	}
	return globTok{kind: tokLit, lit: rest[:1]}, 1
}

// globClass returns the "[...]" class at the start of s; an unclosed "[" is
// a literal.
func globClass(s string) (globTok, int) {
	j := 1
	if j < len(s) && (s[j] == '!' || s[j] == '^') {
		j++
	}
	if j < len(s) && s[j] == ']' {
		j++
	}
	for j < len(s) && s[j] != ']' {
		j++
	}
	if j >= len(s) {
		return globTok{kind: tokLit, lit: "["}, 1
	}
	body := s[1:j]
	neg := strings.HasPrefix(body, "!") || strings.HasPrefix(body, "^")
	if neg {
		body = body[1:]
	}
	var b strings.Builder
	b.WriteString("[")
	if neg {
		b.WriteString("^/")
	}
	for _, r := range body {
		if r == '\\' || r == '[' || r == ']' || r == '^' {
			b.WriteString(`\`)
		}
		b.WriteRune(r)
	}
	b.WriteString("]")
	return globTok{kind: tokClass, lit: b.String()}, j + 1
}

// setRanges parses the class's regexp into rune ranges, as the regexp
// package reads it; false if it reads as something else than a set of runes.
func (t *globTok) setRanges() bool {
	re, err := syntax.Parse(t.lit, syntax.Perl)
	if err != nil {
		return false
	}
	switch re.Op {
	case syntax.OpCharClass:
		t.ranges = re.Rune
	case syntax.OpLiteral:
		if len(re.Rune) != 1 || re.Flags&syntax.FoldCase != 0 {
			return false
		}
		t.ranges = []rune{re.Rune[0], re.Rune[0]}
	case syntax.OpAnyChar:
		t.ranges = []rune{0, utf8.MaxRune}
	case syntax.OpAnyCharNotNL:
		t.ranges = []rune{0, '\n' - 1, '\n' + 1, utf8.MaxRune}
	case syntax.OpNoMatch:
		t.ranges = nil
	default:
		return false
	}
	return true
}

// inClass reports whether r is in the class's ranges.
func (t *globTok) inClass(r rune) bool {
	for i := 0; i+1 < len(t.ranges); i += 2 {
		if r >= t.ranges[i] && r <= t.ranges[i+1] {
			return true
		}
	}
	return false
}

// match reports whether name (slash-separated) matches.
func (m *globMatcher) match(name string) bool {
	return m.matchKnown(name, walkable(name))
}

// matchKnown is match, told whether walkable(name).
func (m *globMatcher) matchKnown(name string, walkable bool) bool {
	if ok, handled := m.matchFast(name, walkable); handled {
		return ok
	}
	return m.regexp().MatchString(name)
}

// walkable reports whether the token walk matches name as the regexp does:
// UTF-8 without a newline.
func walkable(name string) bool {
	return strings.IndexByte(name, '\n') < 0 && utf8.ValidString(name)
}

// matchFast matches name by walking the tokens; handled is false for the
// paths only the regexp matches exactly.
func (m *globMatcher) matchFast(name string, walkable bool) (ok, handled bool) {
	if m.slow || !walkable {
		return false, false
	}
	lit := m.toks[len(m.toks)-1].lit
	switch m.shape {
	case shapeLit:
		lit = m.toks[0].lit
		if m.tree && len(name) > len(lit) && name[len(lit)] == '/' {
			return name[:len(lit)] == lit, true
		}
		return name == lit, true
	case shapeLitTree:
		lit = m.toks[0].lit
		return len(name) > len(lit) && name[len(lit)] == '/' && name[:len(lit)] == lit, true
	case shapeAnySuffix, shapeAnyName:
		return m.anyElement(name, lit), true
	}
	return m.walk(name), true
}

// shapeOf tells the common forms of globs from their tokens.
func shapeOf(toks []globTok) globShape {
	noSlash := func(t globTok) bool { return t.kind == tokLit && !strings.Contains(t.lit, "/") }
	switch {
	case len(toks) == 1 && toks[0].kind == tokLit:
		return shapeLit
	case len(toks) == 2 && toks[0].kind == tokLit && toks[1].kind == tokSlashAny:
		return shapeLitTree
	case len(toks) == 3 && toks[0].kind == tokAnyDirs && toks[1].kind == tokStar && noSlash(toks[2]):
		return shapeAnySuffix
	case len(toks) == 2 && toks[0].kind == tokAnyDirs && noSlash(toks[1]):
		return shapeAnyName
	}
	return shapeOther
}

// anyElement matches the shapes "**/*LIT" and "**/LIT": a path element
// (with tree, any; else the last) ending with or equal to lit.
func (m *globMatcher) anyElement(name, lit string) bool {
	for {
		elem, rest, more := strings.Cut(name, "/")
		if (m.tree || !more) && (m.shape == shapeAnyName && elem == lit || m.shape == shapeAnySuffix && strings.HasSuffix(elem, lit)) {
			return true
		}
		if !more {
			return false
		}
		name = rest
	}
}

// walk runs the tokens over name, keeping the set of positions in name the
// tokens so far can end at.
func (m *globMatcher) walk(name string) bool {
	n := len(name)
	var bufA, bufB [256]bool
	cur, next := bufA[:], bufB[:]
	if n+1 > len(cur) {
		cur, next = make([]bool, n+1), make([]bool, n+1)
	}
	cur, next = cur[:n+1], next[:n+1]
	cur[0] = true
	for i := range m.toks {
		clear(next)
		if !m.toks[i].step(name, cur, next) {
			return false
		}
		cur, next = next, cur
	}
	if !m.tree {
		return cur[n]
	}
	for p := 0; p <= n; p++ {
		if cur[p] && (p == n || name[p] == '/') {
			return true
		}
	}
	return false
}

// step sets in next the positions t can end at when it starts at one in
// cur; false if there are none.
func (t *globTok) step(name string, cur, next []bool) bool {
	n, any := len(name), false
	mark := func(q int) { next[q], any = true, true }
	first := func(slash bool) int { // the first start (followed by a '/')
		for p := 0; p <= n; p++ {
			if cur[p] && (!slash || p < n && name[p] == '/') {
				return p
			}
		}
		return -1
	}
	switch t.kind {
	case tokLit:
		for p := 0; p+len(t.lit) <= n; p++ {
			if cur[p] && name[p:p+len(t.lit)] == t.lit {
				mark(p + len(t.lit))
			}
		}
	case tokOne, tokClass:
		for p := 0; p < n; p++ {
			if cur[p] {
				r, w := utf8.DecodeRuneInString(name[p:])
				if t.kind == tokOne && r != '/' || t.kind == tokClass && t.inClass(r) {
					mark(p + w)
				}
			}
		}
	case tokStar:
		run := false
		for q := 0; q <= n; q++ {
			run = run || cur[q]
			if run && (q == n || utf8.RuneStart(name[q])) {
				mark(q)
			}
			if q < n && name[q] == '/' {
				run = false
			}
		}
	case tokAny, tokSlashAny:
		m := first(t.kind == tokSlashAny)
		if m < 0 {
			return false
		}
		if t.kind == tokSlashAny {
			m++
		}
		for q := m; q <= n; q++ {
			if q == n || utf8.RuneStart(name[q]) {
				mark(q)
			}
		}
	case tokAnyDirs, tokSlashDirs:
		m := first(t.kind == tokSlashDirs)
		if m < 0 {
			return false
		}
		if t.kind == tokAnyDirs {
			copy(next, cur)
			any = true
		}
		for q := m; q < n; q++ {
			if name[q] == '/' {
				mark(q + 1)
			}
		}
	}
	return any
}
