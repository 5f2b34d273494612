package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that no input makes Parse panic (its recover turns a
// panic into an "internal error" problem, which fails here), that every
// problem carries a position, and that an accepted pipeline is consistent.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(pipelines, "*", "*.yml"))
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("version: 1\nsteps: {a: {image: x, run: y, matrix: {v: [1, 2]}, needs: a}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse("f.yml", data)
		if err != nil {
			checkErrors(t, err)
			return
		}
		checkPipeline(t, p)
	})
}

func checkErrors(t *testing.T, err error) {
	var list ErrorList
	if !errors.As(err, &list) || len(list) == 0 {
		t.Fatalf("error is not a non-empty ErrorList: %T %v", err, err)
	}
	for _, e := range list {
		if strings.Contains(e.Msg, "internal error") {
			t.Fatalf("Parse panicked: %v", e)
		}
		if e.Pos.File != "f.yml" || e.Pos.Line < 1 || e.Pos.Col < 1 || e.Msg == "" {
			t.Fatalf("problem without a position or message: %#v", e)
		}
	}
}

func checkPipeline(t *testing.T, p *Pipeline) {
	g := p.Graph
	if g.Len() != len(p.Steps) || len(g.Order()) != len(p.Steps) {
		t.Fatalf("graph has %d steps, %d ordered; pipeline %d", g.Len(), len(g.Order()), len(p.Steps))
	}
	done := map[string]bool{}
	for _, s := range g.Order() {
		if s.Image == "" || len(s.Run) == 0 || s.Workdir == "" {
			t.Fatalf("step %s not resolved: %+v", s.Name, s)
		}
		for _, n := range s.Needs {
			if !done[n] {
				t.Fatalf("step %s ordered before its need %s", s.Name, n)
			}
		}
		done[s.Name] = true
	}
	if _, err := g.Select(p.Steps[len(p.Steps)-1].Name); err != nil {
		t.Fatalf("Select: %v", err)
	}
}
