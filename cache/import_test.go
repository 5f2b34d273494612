package cache

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/pipe-run/pipe/internal/testimage"
)

func TestImport(t *testing.T) {
	img := busybox(t, filesLayer(t, testimage.File{Path: "imported.txt", Body: "yes"}))
	dir := t.TempDir()
	dockerTar := filepath.Join(dir, "docker.tar")
	tag, _ := name.NewTag("example.com/team/box:7")
	if err := tarball.WriteToFile(dockerTar, tag, img); err != nil {
		t.Fatal(err)
	}
	ociDir := filepath.Join(dir, "oci")
	lp, err := layout.Write(ociDir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img, layout.WithAnnotations(map[string]string{"io.containerd.image.name": "example.com/team/oci:1"})); err != nil {
		t.Fatal(err)
	}
	ociTar := filepath.Join(dir, "oci.tar")
	tarDir(t, ociDir, ociTar)

	for _, tc := range []struct{ path, name, want string }{
		{dockerTar, "", "example.com/team/box:7"},
		{dockerTar, "mybox", name.DefaultRegistry + "/library/mybox:latest"},
		{ociDir, "", "example.com/team/oci:1"},
		{ociTar, "local/oci:2", name.DefaultRegistry + "/local/oci:2"},
	} {
		t.Run(filepath.Base(tc.path)+"/"+tc.name, func(t *testing.T) {
			s := newStore(t)
			got, err := s.Import(ctxT(t), tc.path, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if got.Ref != tc.want || len(got.Layers) != 2 {
				t.Fatalf("imported %s with %d layers, want %s", got.Ref, len(got.Layers), tc.want)
			}
			if readFile(t, filepath.Join(got.Layers[1], "imported.txt")) != "yes" {
				t.Error("imported.txt missing")
			}
			if tc.path != dockerTar && got.Digest != mustDigest(t, img) {
				t.Errorf("OCI import digest %s, want the image's %s", got.Digest, mustDigest(t, img))
			}
			again, err := s.Pull(ctxT(t), tc.want, PullOptions{Policy: PullNever})
			if err != nil || again.Digest != got.Digest {
				t.Fatalf("pull never after import: %v", err)
			}
			if len(tmpEntries(t, s)) != 0 {
				t.Errorf("tmp/ not empty: %v", tmpEntries(t, s))
			}
		})
	}
}

func TestImportDockerSaveDigestIsStable(t *testing.T) {
	img := busybox(t)
	p := filepath.Join(t.TempDir(), "img.tar")
	tag, _ := name.NewTag("x:1")
	if err := tarball.WriteToFile(p, tag, img); err != nil {
		t.Fatal(err)
	}
	var digests []v1.Hash
	for range 2 {
		got, err := newStore(t).Import(ctxT(t), p, "")
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, got.Digest)
	}
	if digests[0] != digests[1] {
		t.Errorf("digests differ: %v", digests)
	}
}

func TestImportRejectsOtherFiles(t *testing.T) {
	p := filepath.Join(t.TempDir(), "not.tar")
	os.WriteFile(p, tarOf(t, &tar.Header{Typeflag: tar.TypeReg, Name: "hello", Size: 1, Mode: 0o644}), 0o644)
	if _, err := newStore(t).Import(ctxT(t), p, "x"); err == nil {
		t.Error("a random tar was imported")
	}
}

// tarDir writes dir as a tar file.
func tarDir(t *testing.T, dir, dst string) {
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	defer tw.Close()
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, _ := d.Info()
		h, _ := tar.FileInfoHeader(fi, "")
		h.Name = filepath.ToSlash(rel)
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			src, err := os.Open(p)
			if err != nil {
				return err
			}
			defer src.Close()
			_, err = io.Copy(tw, src)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
