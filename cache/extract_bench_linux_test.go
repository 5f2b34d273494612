//go:build linux

package cache

import (
	"archive/tar"
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BenchmarkExtract extracts a generated ~100 MB layer of ~10k files (100
// dirs of 100 files, 0-20 KB each, plus some symlinks and hardlinks) with
// extractLayer and, in the same run, with GNU tar, so their ratio can be
// read off one output. Both read the same tar file and write into fresh
// dirs on tmpfs (/dev/shm) when there is one, away from the disk's slow
// inode reuse (MACHINE.md).
func BenchmarkExtract(b *testing.B) {
	dir := extFastDir(b)
	layer := filepath.Join(dir, "layer.tar")
	size := extBenchLayer(b, layer)
	root := os.Geteuid() == 0
	run := func(b *testing.B, extract func(dst string) error) {
		b.SetBytes(size)
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			dst := filepath.Join(dir, fmt.Sprint("out", i))
			if err := os.Mkdir(dst, 0o755); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := extract(dst); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			os.RemoveAll(dst)
			b.StartTimer()
		}
	}
	b.Run("pipe", func(b *testing.B) {
		run(b, func(dst string) error {
			f, err := os.Open(layer)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = extractLayer(b.Context(), f, dst, extractOptions{Root: root})
			return err
		})
	})
	b.Run("tar", func(b *testing.B) {
		tarBin, err := exec.LookPath("tar")
		if err != nil {
			b.Skip("no tar binary")
		}
		run(b, func(dst string) error {
			out, err := exec.Command(tarBin, "-x", "-f", layer, "-C", dst).CombinedOutput()
			if err != nil {
				return fmt.Errorf("tar -x: %v: %s", err, out)
			}
			return nil
		})
	})
}

// extBenchLayer writes the benchmark layer to path and returns its size.
func extBenchLayer(b *testing.B, path string) int64 {
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	bw := bufio.NewWriter(f)
	tw := tar.NewWriter(bw)
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 1<<20)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	write := func(h *tar.Header, body []byte) {
		h.ModTime, h.Format = extEpoch, tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			b.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			b.Fatal(err)
		}
	}
	for d := 0; d < 100; d++ {
		dn := fmt.Sprintf("usr/lib/pkg%03d", d)
		write(&tar.Header{Typeflag: tar.TypeDir, Name: dn + "/", Mode: 0o755}, nil)
		for i := 0; i < 100; i++ {
			n := rng.IntN(20 << 10)
			off := rng.IntN(len(data) - n)
			write(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("%s/file%03d.so", dn, i), Mode: 0o644, Size: int64(n)}, data[off:off+n])
		}
		write(&tar.Header{Typeflag: tar.TypeSymlink, Name: dn + "/link", Linkname: "file000.so"}, nil)
		write(&tar.Header{Typeflag: tar.TypeLink, Name: dn + "/hard", Linkname: dn + "/file001.so"}, nil)
	}
	if err := tw.Close(); err != nil {
		b.Fatal(err)
	}
	if err := bw.Flush(); err != nil {
		b.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}
