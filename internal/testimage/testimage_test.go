package testimage

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestRootfs(t *testing.T) {
	dir := Rootfs(t)
	for _, p := range []string{"bin/busybox", "bin/sh", "etc/passwd"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err != nil {
			t.Errorf("rootfs lacks %s: %v", p, err)
		}
	}
}

// TestBusyboxImageIsValid round-trips the image through an OCI layout (the
// in-memory mutate image carries an empty annotations map that validate flags)
// and checks that it is valid and reproducible.
func TestBusyboxImageIsValid(t *testing.T) {
	img, err := Busybox()
	if err != nil {
		t.Fatal(err)
	}
	p, err := layout.Write(t.TempDir(), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	back, err := p.Image(d)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(back); err != nil {
		t.Fatal(err)
	}
	img2, _ := Busybox()
	d2, _ := img2.Digest()
	if d != d2 {
		t.Fatalf("image is not reproducible: %s != %s", d, d2)
	}
}
