// Package pipetest supports tests that drive pipe as its callers do, as a
// separate process (the runner drivers' tests): it builds the pipe binary
// once, builds small busybox images with extra files and config, and
// imports them into a store with `pipe image import`. Test support only:
// the product packages never import it.
package pipetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/pipe-run/pipe/internal/testimage"
)

// Build builds pipe (static, as the release is) into dir and returns its path.
func Build(dir string) (string, error) {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("pipetest: find the module: %w", err)
	}
	bin := filepath.Join(dir, "pipe")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/pipe")
	cmd.Dir = strings.TrimSpace(string(root))
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("pipetest: go build ./cmd/pipe: %v\n%s", err, out)
	}
	return bin, nil
}

// Image is busybox with files on top and its config changed by edit.
func Image(files []testimage.File, edit func(*v1.Config)) (v1.Image, error) {
	var extra []v1.Layer
	if len(files) > 0 {
		b, err := testimage.FilesTar(files...)
		if err != nil {
			return nil, err
		}
		l, err := testimage.LayerFromTar(b)
		if err != nil {
			return nil, err
		}
		extra = append(extra, l)
	}
	img, err := testimage.Busybox(extra...)
	if err != nil || edit == nil {
		return img, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	edit(&cf.Config)
	return mutate.ConfigFile(img, cf)
}

// Import imports img as ref into the store at home (PIPE_HOME), with the
// pipe binary.
func Import(pipe, home, ref string, img v1.Image) error {
	dir, err := os.MkdirTemp("", "pipetest-oci-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendImage(img); err != nil {
		return err
	}
	cmd := exec.Command(pipe, "image", "import", dir, ref)
	cmd.Env = append(os.Environ(), "PIPE_HOME="+home)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pipetest: pipe image import %s: %v\n%s", ref, err, out)
	}
	return nil
}
