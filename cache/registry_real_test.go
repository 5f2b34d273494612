package cache

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/pipe-run/pipe/internal/testimage"
)

const distributionBinary = "/usr/bin/docker-registry"

// startDistribution runs Debian's docker-registry (the CNCF distribution
// server) on a free loopback port and returns its host:port.
func startDistribution(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(distributionBinary); err != nil {
		if os.Getenv("PIPE_TEST_ROOT") == "1" {
			t.Fatalf("%s missing: apt-get install docker-registry", distributionBinary)
		}
		t.Skipf("%s missing: apt-get install docker-registry to run this test", distributionBinary)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(distributionBinary, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not start on %s: %v\n%s", addr, err, logs.String())
		}
	}
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
