package pipeline

import (
	"fmt"
	"strings"
	"testing"
)

// generate writes a pipeline of n steps, each needing up to three earlier
// ones, with env, caches, inputs and a few matrix steps.
func generate(n int) []byte {
	var b strings.Builder
	b.WriteString("version: 1\nimage: golang:1.22\nenv:\n  GOFLAGS: -mod=mod\n  REG: registry.example:5000/acme\ncaches:\n  gomod: /go/pkg/mod\nsteps:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  s%d:\n", i)
		if i%1000 == 999 {
			b.WriteString("    matrix: {go: [\"1.21\", \"1.22\"]}\n    image: golang:${matrix.go}\n")
			n-- // each matrix step expands to two
		}
		if i > 0 {
			fmt.Fprintf(&b, "    needs: [s%d", i-1)
			if i > 10 {
				fmt.Fprintf(&b, ", s%d", i/2)
			}
			if i > 100 {
				fmt.Fprintf(&b, ", s%d", i-97)
			}
			b.WriteString("]\n")
		}
		fmt.Fprintf(&b, "    env: {N: \"%d\", IMG: \"${REG}/s%d\"}\n    caches: [gomod]\n    inputs: [\"pkg/s%d/**\"]\n    run: go test ./pkg/s%d/...\n", i, i, i, i)
	}
	return []byte(b.String())
}

// BenchmarkParse10k parses, validates and plans a generated pipeline of
// 10,000 steps: decoding, matrix expansion, needs, order, levels, and the
// selection of the last step with its ancestors.
func BenchmarkParse10k(b *testing.B) {
	data := generate(10_000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		p, err := Parse("gen.yml", data)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Steps) != 10_000 {
			b.Fatalf("%d steps", len(p.Steps))
		}
		_ = p.Graph.Levels()
		if _, err := p.Graph.Select(p.Steps[len(p.Steps)-1].Name); err != nil {
			b.Fatal(err)
		}
	}
}
