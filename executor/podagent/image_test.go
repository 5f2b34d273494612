package podagent

import (
	"archive/tar"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestImageReproducible(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "pipe")
	if err := os.WriteFile(exe, []byte("#!/bin/false\nnot really a binary\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := Image(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(a); err != nil {
		t.Fatalf("the agent image is invalid: %v", err)
	}
	b, err := Image(exe)
	if err != nil {
		t.Fatal(err)
	}
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db {
		t.Errorf("the same binary gives two digests: %s %s", da, db)
	}
	cf, _ := a.ConfigFile()
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH || cf.Created.Unix() != 0 {
		t.Errorf("config: os %s arch %s created %v", cf.OS, cf.Architecture, cf.Created)
	}
	layers, _ := a.Layers()
	if len(layers) != 1 {
		t.Fatalf("%d layers", len(layers))
	}
	rc, _ := layers[0].Uncompressed()
	defer rc.Close()
	tr := tar.NewReader(rc)
	h, err := tr.Next()
	if err != nil || h.Name != "pipe" || h.Mode != 0o755 || h.Uid != 0 || h.ModTime.Unix() != 0 {
		t.Fatalf("first entry %+v, %v", h, err)
	}
	body, _ := io.ReadAll(tr)
	if !strings.Contains(string(body), "not really a binary") {
		t.Errorf("the layer holds %q", body)
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("more than one entry: %v", err)
	}

	os.WriteFile(exe, []byte("another binary"), 0o600)
	c, _ := Image(exe)
	if dc, _ := c.Digest(); dc == da {
		t.Error("another binary gives the same digest")
	}
	tag, err := ImageTag(exe)
	if err != nil || !strings.HasPrefix(tag, "pipe-agent-") || len(tag) != len("pipe-agent-")+12 {
		t.Errorf("tag %q %v", tag, err)
	}
	if _, err := Image(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("an image of a missing binary")
	}
}
