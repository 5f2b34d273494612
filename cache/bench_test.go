package cache

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/pipe-run/pipe/internal/testimage"
)

// benchImage is busybox plus 4 layers of 24 files of 1 MiB each: ~100 MB of
// random words, which gzip compresses about 3x, like real source and binaries.
func benchImage(b *testing.B) (v1.Image, int64) {
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("the quick brown fox jumps over a lazy dog while pipe extracts layers func return error nil context")
	var layers []v1.Layer
	var total int64
	for l := range 4 {
		var files []testimage.File
		for f := range 24 {
			var sb strings.Builder
			for sb.Len() < 1<<20 {
				sb.WriteString(words[rng.IntN(len(words))])
				sb.WriteByte(" \n"[rng.IntN(2)])
				if rng.IntN(8) == 0 {
					fmt.Fprintf(&sb, "%x", rng.Uint64())
				}
			}
			files = append(files, testimage.File{Path: fmt.Sprintf("d%d/f%d.txt", l, f), Body: sb.String()})
			total += int64(sb.Len())
		}
		layers = append(layers, filesLayer(b, files...))
	}
	return busybox(b, layers...), total
}

func BenchmarkPullExtract(b *testing.B) {
	reg := newRegistry(b)
	img, size := benchImage(b)
	ref := reg.push(b, "bench:1", img)
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		s := newStore(b)
		b.StartTimer()
		if _, err := s.Pull(b.Context(), ref, PullOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWarmPull(b *testing.B) {
	reg := newRegistry(b)
	ref := reg.push(b, "warm:1", busybox(b, filesLayer(b, testimage.File{Path: "a", Body: "a"})))
	s := newStore(b)
	if _, err := s.Pull(b.Context(), ref, PullOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Pull(b.Context(), ref, PullOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
