package github

import (
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pipe-run/pipe/formats"
	"github.com/pipe-run/pipe/pipeline"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// hostArch is the RUNNER_ARCH line, which follows the machine's architecture.
var hostArch = regexp.MustCompile(`RUNNER_ARCH: [A-Z0-9]+`)

// testContext is the local state the golden files are translated in: the
// branch main of a repository whose files are testdata/repo.
func testContext() formats.Context {
	repo := os.DirFS("testdata/repo")
	return formats.Context{
		SHA:         "0123456789abcdef0123456789abcdef01234567",
		Branch:      "main",
		Event:       pipeline.EventPush,
		ProjectName: "demo",
		ReadFile:    func(p string) ([]byte, error) { return fs.ReadFile(repo, p) },
		Glob: func(pattern string) ([]string, error) {
			var out []string
			err := fs.WalkDir(repo, ".", func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && pipeline.MatchGlob(pattern, p) {
					out = append(out, p)
				}
				return err
			})
			return out, err
		},
	}
}

// TestGolden translates every testdata/valid workflow into its .pipe.yml
// and warnings, and every testdata/invalid one into its errors.
func TestGolden(t *testing.T) {
	for _, kind := range []string{"valid", "invalid"} {
		files, _ := filepath.Glob(filepath.Join("testdata", kind, "*.y*ml"))
		if len(files) == 0 {
			t.Fatalf("no testdata/%s workflows", kind)
		}
		for _, file := range files {
			if strings.HasSuffix(file, ".pipe.yml") {
				continue
			}
			t.Run(filepath.Base(file), func(t *testing.T) { golden(t, kind, file) })
		}
	}
}

func golden(t *testing.T, kind, file string) {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.ToSlash(filepath.Join(".github/workflows", filepath.Base(file)))
	tr, err := Translate(name, data, testContext())
	base := strings.TrimSuffix(strings.TrimSuffix(file, ".yml"), ".yaml")
	if kind == "invalid" {
		var list pipeline.ErrorList
		if !errors.As(err, &list) {
			t.Fatalf("want an ErrorList, got %v", err)
		}
		compareGolden(t, base+".errors", []byte(list.Error()+"\n"))
		return
	}
	if err != nil {
		t.Fatalf("translate: %v", err)
	}
	compareGolden(t, base+".pipe.yml", hostArch.ReplaceAll(tr.YAML, []byte("RUNNER_ARCH: X64")))
	var w []byte
	for _, e := range tr.Warnings {
		w = append(w, e.Error()+"\n"...)
	}
	compareGolden(t, base+".warnings", w)
	// the .pipe.yml gives the same steps as the translation's Pipeline
	p, err := pipeline.Parse(name, tr.YAML)
	if err != nil {
		t.Fatalf("the .pipe.yml does not parse: %v", err)
	}
	if p.Graph.Len() != tr.Pipeline.Graph.Len() {
		t.Errorf("the .pipe.yml has %d steps, the translation %d", p.Graph.Len(), tr.Pipeline.Graph.Len())
	}
}

func compareGolden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s", file, got)
	}
}
