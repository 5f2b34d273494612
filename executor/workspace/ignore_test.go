package workspace

import (
	"strings"
	"testing"
)

func TestIgnoreList(t *testing.T) {
	tests := []struct {
		name    string
		rules   string
		path    string
		ignored bool
	}{
		{"basename any depth", "*.log", "a/b/c.log", true},
		{"basename root", "*.log", "c.log", true},
		{"no match", "*.log", "c.txt", false},
		{"anchored leading slash", "/build", "build/x", true},
		{"anchored not deeper", "/build", "src/build/x", false},
		{"unanchored dir any depth", "build/", "src/build/x", true},
		{"dir only does not match file", "build/", "build", false},
		{"middle slash anchors", "docs/*.md", "docs/a.md", true},
		{"middle slash anchors, not deeper", "docs/*.md", "x/docs/a.md", false},
		{"star does not cross slash", "docs/*.md", "docs/sub/a.md", false},
		{"leading **", "**/tmp", "a/b/tmp/x", true},
		{"trailing **", "out/**", "out/a/b", true},
		{"middle **", "a/**/z.txt", "a/b/c/z.txt", true},
		{"middle ** zero dirs", "a/**/z.txt", "a/z.txt", true},
		{"question mark", "?.o", "x.o", true},
		{"class", "[abc].o", "b.o", true},
		{"negated class", "[!abc].o", "b.o", false},
		{"negation re-includes", "*.log\n!keep.log", "keep.log", false},
		{"negation order matters", "!keep.log\n*.log", "keep.log", true},
		{"cannot re-include under excluded dir", "build/\n!build/keep", "build/keep", true},
		{"comment", "# *.go", "a.go", false},
		{"escaped hash", `\#x`, "#x", true},
		{"escaped bang", `\!x`, "!x", true},
		{"trailing spaces trimmed", "a.txt   ", "a.txt", true},
		{"escaped trailing space", `a\ `, "a ", true},
		{"crlf file", "a.txt\r", "a.txt", true},
		{"dot files", ".env*", ".envrc", true},
		{"regexp metachar literal", "a+b.(c)", "a+b.(c)", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := &ignoreList{}
			for _, line := range strings.Split(tc.rules, "\n") {
				p, ok, err := parsePattern(line)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					l.patterns = append(l.patterns, p)
				}
			}
			if got := l.excluded(tc.path); got != tc.ignored {
				t.Errorf("rules %q: excluded(%q) = %v, want %v", tc.rules, tc.path, got, tc.ignored)
			}
		})
	}
}

func TestInputSelector(t *testing.T) {
	tests := []struct {
		globs []string
		path  string
		want  bool
	}{
		{nil, "any/file", true},
		{[]string{"src/**/*.go"}, "src/a/b.go", true},
		{[]string{"src/**/*.go"}, "src/b.go", true},
		{[]string{"src/**/*.go"}, "lib/b.go", false},
		{[]string{"go.mod"}, "go.mod", true},
		{[]string{"go.mod"}, "sub/go.mod", false},
		{[]string{"src"}, "src/deep/file", true},
		{[]string{"./src/"}, "src/deep/file", true},
		{[]string{"src", "!src/gen"}, "src/gen/x.go", false},
		{[]string{"src", "!src/gen"}, "src/main.go", true},
		{[]string{"!docs"}, "src/main.go", true},
		{[]string{"!docs"}, "docs/a.md", false},
		{[]string{"*.md"}, "a.md", true},
		{[]string{"*.md"}, "d/a.md", false},
		{[]string{"**/*.md"}, "d/a.md", true},
	}
	for _, tc := range tests {
		sel, err := newSelector(tc.globs)
		if err != nil {
			t.Fatal(err)
		}
		if got := sel.match(tc.path); got != tc.want {
			t.Errorf("globs %q: match(%q) = %v, want %v", tc.globs, tc.path, got, tc.want)
		}
	}
}
