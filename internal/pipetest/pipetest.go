// Package pipetest supports tests that drive pipe as its callers do, as a
// separate process (the runner drivers' tests): it builds the pipe binary
// once, builds small busybox images with extra files and config, and
// imports them into a store with `pipe image import`. Test support only:
// the product packages never import it.
package pipetest

import (
	"encoding/json"
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

// Build builds pipe (static, as the release is: its small container init
// embedded, as make build does) into dir and returns its path. The init
// is built into dir too, and reaches the embed through a build overlay:
// nothing is written into the source tree, which tests of several
// packages may build from at once.
func Build(dir string) (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("pipetest: find the module: %w", err)
	}
	root := strings.TrimSpace(string(out))
	initBin := filepath.Join(dir, "pipe-init")
	if err := goBuild(root, "-trimpath", "-ldflags=-s -w", "-o", initBin, "./cmd/pipe-init"); err != nil {
		return "", err
	}
	overlay, err := json.Marshal(map[string]map[string]string{"Replace": {filepath.Join(root, "cmd/pipe/pipe-init.bin"): initBin}})
	if err != nil {
		return "", err
	}
	ov := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ov, overlay, 0o644); err != nil {
		return "", fmt.Errorf("pipetest: %w", err)
	}
	bin := filepath.Join(dir, "pipe")
	if err := goBuild(root, "-tags", "pipeinit", "-overlay", ov, "-o", bin, "./cmd/pipe"); err != nil {
		return "", err
	}
	return bin, nil
}

// goBuild runs go build with args in the module's root, without cgo.
func goBuild(root string, args ...string) error {
	cmd := exec.Command("go", append([]string{"build"}, args...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pipetest: go build %s: %v\n%s", args[len(args)-1], err, out)
	}
	return nil
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
