package github

import (
	"os"
	"testing"

	"github.com/pipe-run/pipe/pipeline"
)

// BenchmarkTranslate translates gorm's workflow (4 jobs, 15 combinations,
// services); BenchmarkParseTranslated parses the .pipe.yml it gives, the
// floor a translation adds to: their ratio is what reading a workflow costs
// over reading its .pipe.yml.
func BenchmarkTranslate(b *testing.B) {
	data, err := os.ReadFile("testdata/valid/gorm-tests.yml")
	if err != nil {
		b.Fatal(err)
	}
	ctx := testContext()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Translate("w.yml", data, ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseTranslated(b *testing.B) {
	data, err := os.ReadFile("testdata/valid/gorm-tests.pipe.yml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pipeline.Parse("w.yml", data); err != nil {
			b.Fatal(err)
		}
	}
}
