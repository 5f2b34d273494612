package github

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipe-run/pipe/pipeline"
)

// FuzzTranslate checks that no workflow makes Translate panic (its recover
// turns a panic into an "internal error" problem, which fails here), that
// every problem and warning carries a position, and that an accepted
// workflow gives a .pipe.yml that parses into as many steps.
func FuzzTranslate(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*", "*.y*ml"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("on: push\njobs: {a: {runs-on: ubuntu-latest, steps: [{run: 'echo ${{ matrix.x }}'}], strategy: {matrix: {x: [1, 2], include: [{x: 3, y: 4}]}}}}\n"))
	f.Add([]byte("on: push\njobs: {a: {runs-on: ubuntu-latest, if: failure(), steps: [{if: \"steps.a.outputs.b == 'c'\", run: x}]}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, err := Translate("w.yml", data, testContext())
		if err != nil {
			var list pipeline.ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is not a non-empty ErrorList: %T %v", err, err)
			}
			checkPositions(t, list)
			return
		}
		checkPositions(t, tr.Warnings)
		p, err := pipeline.Parse("w.yml", tr.YAML)
		if err != nil {
			t.Fatalf("the .pipe.yml does not parse: %v\n%s", err, tr.YAML)
		}
		if p.Graph.Len() != tr.Pipeline.Graph.Len() {
			t.Fatalf("the .pipe.yml has %d steps, the translation %d", p.Graph.Len(), tr.Pipeline.Graph.Len())
		}
	})
}

func checkPositions(t *testing.T, list pipeline.ErrorList) {
	for _, e := range list {
		if strings.Contains(e.Msg, "internal error") {
			t.Fatalf("panic: %v", e)
		}
		if e.Pos.File == "" || e.Pos.Line < 1 || e.Pos.Col < 1 {
			t.Fatalf("no position: %v", e)
		}
	}
}
