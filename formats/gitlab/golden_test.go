package gitlab

import (
	"errors"
	"flag"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pipe-run/pipe/formats"
	"github.com/pipe-run/pipe/pipeline"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// testContext is the git state every golden translation is made for: a
// branch main with a known commit, run by hand, docs/a.md changed.
func testContext(dir string) formats.Context {
	return formats.Context{
		SHA: "0123456789abcdef0123456789abcdef01234567", Branch: "main", Event: pipeline.EventManual,
		Changed: []string{"docs/guide/a.md"}, ProjectName: "demo",
		Env: func(string) (string, bool) { return "", false },
		ReadFile: func(p string) ([]byte, error) {
			if p == "go.sum" {
				return []byte("example.com/x v1.0.0 h1:abc\n"), nil
			}
			return os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		},
		Glob: func(pattern string) ([]string, error) { return globDir(dir, pattern) },
	}
}

// globDir lists the files under dir matching pattern, as relative paths;
// go.mod exists in every test repository.
func globDir(dir, pattern string) ([]string, error) {
	var out []string
	if pipeline.MatchGlob(pattern, "go.mod") {
		out = append(out, "go.mod")
	}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel = filepath.ToSlash(rel); pipeline.MatchGlob(pattern, rel) {
			out = append(out, rel)
		}
		return nil
	})
	return out, err
}

// TestGolden translates every testdata/golden/*.gitlab-ci.yml and compares
// the .pipe.yml and the warnings with NAME.pipe.yml and NAME.warnings.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/golden/*.gitlab-ci.yml")
	if len(files) < 5 {
		t.Fatalf("want at least 5 golden files, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			name := path.Base(filepath.ToSlash(f))
			tr, err := Translate(name, data, testContext(filepath.Dir(f)))
			if err != nil {
				t.Fatalf("Translate: %v", err)
			}
			base := strings.TrimSuffix(f, ".gitlab-ci.yml")
			golden(t, base+".pipe.yml", string(tr.YAML))
			golden(t, base+".warnings", tr.Warnings.Error()+"\n")
			checkSameAsParse(t, tr)
			for _, w := range tr.Warnings {
				if w.Pos.Line < 1 || w.Pos.Col < 1 || w.Pos.File == "" {
					t.Errorf("warning without a position: %v", w)
				}
			}
		})
	}
}

// checkSameAsParse checks that the .pipe.yml gives the same steps.
func checkSameAsParse(t *testing.T, tr *formats.Translation) {
	t.Helper()
	p, err := pipeline.Parse("convert.pipe.yml", tr.YAML)
	if err != nil {
		t.Fatalf("the .pipe.yml does not parse: %v", err)
	}
	if len(p.Steps) != len(tr.Pipeline.Steps) {
		t.Fatalf("%d steps from the .pipe.yml, %d translated", len(p.Steps), len(tr.Pipeline.Steps))
	}
	for i, s := range p.Steps {
		a, b := *s, *tr.Pipeline.Steps[i]
		a.Pos, b.Pos = pipeline.Pos{}, pipeline.Pos{}
		if diff := cmp.Diff(b, a, cmp.Comparer(func(x, y *pipeline.Service) bool { return x.Name == y.Name && x.Image == y.Image })); diff != "" {
			t.Errorf("step %s differs from its .pipe.yml:\n%s", s.Name, diff)
		}
	}
}

// TestInvalid translates every testdata/invalid/*.gitlab-ci.yml and
// compares the errors with NAME.golden; each must carry a position.
func TestInvalid(t *testing.T) {
	files, _ := filepath.Glob("testdata/invalid/*.gitlab-ci.yml")
	if len(files) < 5 {
		t.Fatalf("want at least 5 invalid files, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			name := path.Base(filepath.ToSlash(f))
			tr, err := Translate(name, data, testContext(filepath.Dir(f)))
			if err == nil {
				t.Fatalf("Translate accepted an invalid file:\n%s", tr.YAML)
			}
			var list pipeline.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, want ErrorList: %v", err, err)
			}
			for _, e := range list {
				if e.Pos.File == "" || e.Pos.Line < 1 || e.Pos.Col < 1 {
					t.Errorf("error without a position: %v", e)
				}
			}
			golden(t, strings.TrimSuffix(f, ".gitlab-ci.yml")+".golden", err.Error()+"\n")
		})
	}
}

func golden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (go test ./formats/gitlab -update creates it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; -update rewrites it):\n%s", file, diff)
	}
}
