package cache

import (
	"path/filepath"
	"testing"

	"github.com/pipe-run/pipe/internal/testimage"
	"github.com/pipe-run/pipe/internal/testregistry"
)

// startDistribution runs Debian's docker-registry (the CNCF distribution
// server) on a free loopback port, without TLS or auth, and returns its
// host:port.
func startDistribution(t *testing.T) string {
	t.Helper()
	return testregistry.Start(t, testregistry.Options{}).Host
}

func TestPullFromDistributionRegistry(t *testing.T) {
	addr := startDistribution(t)
	reg := &testRegistry{Host: addr}
	img := busybox(t, filesLayer(t, testimage.File{Path: "real.txt", Body: "distribution"}))
	ref := reg.push(t, "pipe/real:1", img)
	s := newStore(t)
	got, err := s.Pull(ctxT(t), ref, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != mustDigest(t, img) || readFile(t, filepath.Join(got.Layers[1], "real.txt")) != "distribution" {
		t.Errorf("pulled %s", got.Digest)
	}
	byDigest, err := s.Pull(ctxT(t), addr+"/pipe/real@"+got.Digest.String(), PullOptions{Policy: PullAlways})
	if err != nil || byDigest.Digest != got.Digest {
		t.Fatalf("pull by digest: %v", err)
	}
}
