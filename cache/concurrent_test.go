package cache

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pipe-run/pipe/internal/testimage"
)

// TestHelperPuller is not a test: it is the body of the processes that
// TestConcurrentPullsShareOneDownload starts from the test binary.
func TestHelperPuller(t *testing.T) {
	root, ref := os.Getenv("PIPE_CACHE_TEST_ROOT"), os.Getenv("PIPE_CACHE_TEST_REF")
	if root == "" {
		t.Skip("helper process only")
	}
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Pull(context.Background(), ref, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Printf("layers=%d\n", len(img.Layers))
}

func TestConcurrentPullsShareOneDownload(t *testing.T) {
	reg := newRegistry(t)
	var extra []testimage.File
	for i := range 4 {
		extra = append(extra, testimage.File{Path: fmt.Sprintf("l%d.txt", i), Body: strings.Repeat(fmt.Sprint(i), 200000)})
	}
	img := busybox(t, filesLayer(t, extra[0]), filesLayer(t, extra[1]), filesLayer(t, extra[2]), filesLayer(t, extra[3]))
	ref := reg.push(t, "shared:1", img)
	reg.reset()
	root := t.TempDir()

	const procs = 4
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, procs)
	errs := make([]error, procs)
	for i := range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPuller$", "-test.v")
		cmd.Env = append(os.Environ(), "PIPE_CACHE_TEST_ROOT="+root, "PIPE_CACHE_TEST_REF="+ref)
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = cmd.Wait() }()
	}
	wg.Wait()
	for i := range procs {
		if errs[i] != nil || !strings.Contains(outs[i].String(), "layers=5") {
			t.Errorf("puller %d: %v\n%s", i, errs[i], outs[i].String())
		}
	}
	_, blobs := reg.counts()
	layers, _ := img.Layers()
	for _, l := range layers {
		if n := blobs[mustDigest(t, l).String()]; n != 1 {
			t.Errorf("layer %s fetched %d times by %d processes, want once", mustDigest(t, l), n, procs)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(root, layersDir))
	if len(ents) != 5 {
		t.Errorf("%d layers stored, want 5", len(ents))
	}
	if tmp, _ := os.ReadDir(filepath.Join(root, tmpDir)); len(tmp) != 0 {
		t.Errorf("tmp/ not empty: %v", tmp)
	}
}
