package gitlab

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/pipe-run/pipe/formats"
	"github.com/pipe-run/pipe/pipeline"
)

// FuzzTranslate checks that any input gives a translation or an ErrorList
// whose every error has a position in a file, and never panics (Translate
// turns a panic into an "internal error", which the fuzzer reports too).
func FuzzTranslate(f *testing.F) {
	for _, dir := range []string{"testdata/golden", "testdata/invalid"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
		for _, file := range files {
			if data, err := os.ReadFile(file); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte("a: &a {script: [x], image: y, extends: b}\nb: {<<: *a, extends: a}\n"))
	f.Add([]byte("x: !reference [x, y]\ny: {script: !reference [y, script], image: i}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := formats.Context{SHA: "abc", Branch: "main", Event: pipeline.EventPush, ProjectName: "p",
			ReadFile: func(p string) ([]byte, error) {
				if p == "inc.yml" {
					return data, nil
				}
				return nil, os.ErrNotExist
			},
			Glob: func(string) ([]string, error) { return []string{"inc.yml"}, nil },
		}
		tr, err := Translate(".gitlab-ci.yml", data, ctx)
		if err == nil {
			if tr.Pipeline == nil || len(tr.Pipeline.Steps) == 0 {
				t.Fatalf("no error and no steps")
			}
			return
		}
		var list pipeline.ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error is %T, want a non-empty ErrorList: %v", err, err)
		}
		for _, e := range list {
			if e.Pos.File == "" || e.Pos.Line < 1 || e.Pos.Col < 1 {
				t.Fatalf("error without a position: %v", e)
			}
			if len(e.Msg) > 15 && e.Msg[:15] == "internal error " {
				t.Fatalf("panic: %v", e)
			}
		}
	})
}
