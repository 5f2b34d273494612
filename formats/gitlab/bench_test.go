package gitlab

import (
	"os"
	"testing"

	"github.com/pipe-run/pipe/pipeline"
)

// BenchmarkTranslate translates the golden file with every key; compare
// with BenchmarkParseTranslated, the parse of its .pipe.yml alone (the
// ratio is what reading a GitLab file costs over a .pipe.yml).
func BenchmarkTranslate(b *testing.B) {
	data, err := os.ReadFile("testdata/golden/features.gitlab-ci.yml")
	if err != nil {
		b.Fatal(err)
	}
	ctx := testContext("testdata/golden")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Translate("features.gitlab-ci.yml", data, ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseTranslated(b *testing.B) {
	data, err := os.ReadFile("testdata/golden/features.pipe.yml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pipeline.Parse("features.pipe.yml", data); err != nil {
			b.Fatal(err)
		}
	}
}
