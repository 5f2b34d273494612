package pipeline

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func mustParse(t testing.TB, src string) *Pipeline {
	t.Helper()
	p, err := Parse("test.yml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func names(steps []*Step) []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.Name
	}
	return out
}

const selectSrc = `version: 1
image: alpine
steps:
  fetch: {run: x}
  build:
    matrix: {go: ["1", "2"]}
    needs: fetch
    run: x
  lint: {run: x}
  test:
    needs: ["build[go=1]"]
    run: x
  deploy:
    needs: [test, lint]
    run: x
`

func TestSelect(t *testing.T) {
	g := mustParse(t, selectSrc).Graph
	tests := []struct {
		targets []string
		want    []string
	}{
		{nil, []string{"fetch", "build[go=1]", "build[go=2]", "lint", "test", "deploy"}},
		{[]string{"test"}, []string{"fetch", "build[go=1]", "test"}},
		{[]string{"build"}, []string{"fetch", "build[go=1]", "build[go=2]"}},
		{[]string{"build[go=2]"}, []string{"fetch", "build[go=2]"}},
		{[]string{"lint", "build[go=2]"}, []string{"fetch", "build[go=2]", "lint"}},
		{[]string{"deploy"}, []string{"fetch", "build[go=1]", "lint", "test", "deploy"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.targets, ","), func(t *testing.T) {
			sub, err := g.Select(tt.targets...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, names(sub.Order())); diff != "" {
				t.Errorf("Order (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSelectUnknown(t *testing.T) {
	g := mustParse(t, selectSrc).Graph
	_, err := g.Select("tset")
	var u *UnknownStepError
	if !errors.As(err, &u) || u.Suggestion != "test" {
		t.Fatalf("Select(tset) = %v, want UnknownStepError suggesting test", err)
	}
	if _, err := g.Select("build[go=3]"); !errors.As(err, &u) || u.Suggestion == "" {
		t.Fatalf("Select(build[go=3]) = %v, want a suggestion", err)
	}
}

func TestGraphQueries(t *testing.T) {
	g := mustParse(t, selectSrc).Graph
	if g.Len() != 6 || g.Edges() != 5 {
		t.Errorf("Len, Edges = %d, %d; want 6, 5", g.Len(), g.Edges())
	}
	want := [][]string{{"fetch", "lint"}, {"build[go=1]", "build[go=2]"}, {"test"}, {"deploy"}}
	var got [][]string
	for _, l := range g.Levels() {
		got = append(got, names(l))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Levels (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"lint", "test"}, names(g.Deps("deploy"))); diff != "" {
		t.Errorf("Deps(deploy): %s", diff)
	}
	if diff := cmp.Diff([]string{"build[go=1]", "build[go=2]"}, names(g.Dependents("fetch"))); diff != "" {
		t.Errorf("Dependents(fetch): %s", diff)
	}
	if g.Step("build[go=2]") == nil || g.Step("nope") != nil || g.Deps("nope") != nil {
		t.Error("Step/Deps lookups wrong")
	}
	if s := g.Step("test"); s.Needs[0] != "build[go=1]" {
		t.Errorf("test.Needs = %v", s.Needs)
	}
}

// TestOrderStable checks that among ready steps the first in the file runs
// first, whatever the shape of the graph.
func TestOrderStable(t *testing.T) {
	p := mustParse(t, `version: 1
image: a
steps:
  z: {run: x, needs: [y]}
  y: {run: x}
  c: {run: x, needs: [b, a]}
  b: {run: x}
  a: {run: x}
`)
	want := []string{"y", "z", "b", "a", "c"}
	if diff := cmp.Diff(want, names(p.Graph.Order())); diff != "" {
		t.Errorf("Order (-want +got):\n%s", diff)
	}
}

func TestNewGraph(t *testing.T) {
	a := &Step{Name: "a", Base: "a"}
	b := &Step{Name: "b", Base: "b", Needs: []string{"a"}}
	g, err := NewGraph([]*Step{b, a})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, names(g.Order())); diff != "" {
		t.Error(diff)
	}
	a.Needs = []string{"b"}
	if _, err := NewGraph([]*Step{a, b}); err == nil || !strings.Contains(err.Error(), "cycle: a -> b -> a") {
		t.Errorf("NewGraph with a cycle: %v", err)
	}
	a.Needs = []string{"x"}
	if _, err := NewGraph([]*Step{a, b}); err == nil {
		t.Error("NewGraph accepted an unknown need")
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	g := mustParse(t, selectSrc).Graph
	if err := g.Write(&strings.Builder{}, "svg"); err == nil {
		t.Error("Write(svg) succeeded")
	}
}
