package workspace

import (
	"strings"
	"testing"
)

// globAtoms and nameAtoms build the globs and paths
// TestGlobMatcherAgreesWithRegexp crosses: every glob of up to two atoms
// against every path of up to three, and every glob of three core atoms
// against every path of up to two.
var (
	globAtoms = []string{"a", "b.go", "*", "?", "**", "/", "**/", "/**", "/**/", "[ab]", "[!a]", "[^/]", "[a-c]", "[]]", "[", `\*`, `\`, ".", "é", "[é]"}
	coreAtoms = []string{"a", "*", "?", "**", "/", "**/", "/**", "/**/", "[!a]", "é"}
	nameAtoms = []string{"a", "b", "b.go", "/", "é", "€"}
)

// TestGlobMatcherAgreesWithRegexp checks that the token walk gives what the
// glob's regexp gives, for globs and paths crossed from small atoms.
func TestGlobMatcherAgreesWithRegexp(t *testing.T) {
	checked := 0
	checked += checkGlobsAgree(t, crossAtoms(globAtoms, 2), crossAtoms(nameAtoms, 3))
	checked += checkGlobsAgree(t, crossAtoms(coreAtoms, 3)[len(coreAtoms)*(len(coreAtoms)+1):], crossAtoms(nameAtoms, 2))
	if checked < 250000 {
		t.Fatalf("only %d glob/path pairs took the token walk", checked)
	}
}

// checkGlobsAgree checks every glob against every name, as a plain and as a
// tree matcher; it returns how many pairs the token walk took.
func checkGlobsAgree(t *testing.T, globs, names []string) int {
	t.Helper()
	checked := 0
	for _, g := range globs {
		for _, tree := range []bool{false, true} {
			m, err := newGlobMatcher(g, tree)
			if err != nil {
				continue
			}
			for _, name := range names {
				if checkGlobAgrees(t, m, g, name) {
					checked++
				}
			}
		}
	}
	return checked
}

// TestGlobMatcherFallsBack checks the paths only the regexp matches exactly.
func TestGlobMatcherFallsBack(t *testing.T) {
	tests := []struct {
		glob, name string
		tree, want bool
	}{
		{"**", "a\nb", false, false}, // `.` does not match a newline
		{"a", "a/b\nc", true, false},
		{"*", "a\nb", false, true}, // a class does
		{"?", "\xff", false, true}, // a byte that is not UTF-8 is one rune
		{"a/**", "a/\xffb", false, true},
	}
	for _, tc := range tests {
		m, err := newGlobMatcher(tc.glob, tc.tree)
		if err != nil {
			t.Fatal(err)
		}
		if _, handled := m.matchFast(tc.name, walkable(tc.name)); handled {
			t.Errorf("glob %q (tree %v): the token walk took %q", tc.glob, tc.tree, tc.name)
		}
		if got := m.match(tc.name); got != tc.want {
			t.Errorf("glob %q (tree %v): match(%q) = %v, want %v", tc.glob, tc.tree, tc.name, got, tc.want)
		}
	}
}

func FuzzGlobMatcher(f *testing.F) {
	for _, s := range [][2]string{{"**/*.go", "a/b/c.go"}, {"a/**/b", "a/x/y/b"}, {"[!a-c]?/**", "d/e/f"}, {"src", "src/x"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, g, name string) {
		if g == "" {
			return
		}
		for _, tree := range []bool{false, true} {
			if m, err := newGlobMatcher(g, tree); err == nil {
				checkGlobAgrees(t, m, g, name)
			}
		}
	})
}

// checkGlobAgrees fails t when the token walk and the regexp disagree on
// name; it reports whether the walk took name.
func checkGlobAgrees(t *testing.T, m *globMatcher, g, name string) bool {
	t.Helper()
	got, handled := m.matchFast(name, walkable(name))
	if !handled {
		return false
	}
	if want := m.regexp().MatchString(name); got != want {
		t.Errorf("glob %q (tree %v, regexp %s): walk says %v for %q, the regexp %v", g, m.tree, m.regexp(), got, name, want)
	}
	return true
}

// crossAtoms returns every concatenation of 1 to n atoms.
func crossAtoms(atoms []string, n int) []string {
	out, level := []string{}, []string{""}
	for range n {
		var next []string
		for _, p := range level {
			for _, a := range atoms {
				next = append(next, p+a)
			}
		}
		out, level = append(out, next...), next
	}
	return out
}

func BenchmarkGlobMatch(b *testing.B) {
	names := []string{"executor/workspace/glob.go", "go.mod", "testdata/pipelines/valid/diamond.yml", "README.md", "cmd/pipe/testdata/script/run_cache.txtar"}
	for _, g := range []string{"**/*.go", "go.mod", "testdata/**"} {
		m, err := newGlobMatcher(g, true)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(strings.NewReplacer("/", "_", "*", "x").Replace(g), func(b *testing.B) {
			b.Run("walk", func(b *testing.B) {
				for b.Loop() {
					for _, n := range names {
						m.match(n)
					}
				}
			})
			b.Run("regexp", func(b *testing.B) {
				for b.Loop() {
					for _, n := range names {
						m.regexp().MatchString(n)
					}
				}
			})
		})
	}
}

// TestGlobMatcherErrors checks that a glob whose regexp cannot compile is
// refused when it is compiled, not when a path reaches the regexp.
func TestGlobMatcherErrors(t *testing.T) {
	for _, g := range []string{"[z-a]", "src/[b-a]*.go", "bad\xffutf8"} {
		if _, err := newGlobMatcher(g, true); err == nil {
			t.Errorf("glob %q was accepted", g)
		}
	}
}
