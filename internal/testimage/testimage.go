// Package testimage builds small container images without any registry: a root
// filesystem made of Debian's static busybox (from the busybox-static package)
// and its applet links, as a directory or as an OCI image. Tests of isolation,
// cache and executor use it, and so does the script that builds pipe's local
// images. It is test and tooling support: the product packages never import it.
package testimage

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BusyboxPath is where Debian's busybox-static package puts the static binary.
const BusyboxPath = "/bin/busybox"

// ErrNoBusybox says the busybox-static package is not installed.
var ErrNoBusybox = errors.New("testimage: " + BusyboxPath + " not found: install Debian's busybox-static package (apt-get install busybox-static)")

// Epoch is the mtime of every generated entry, so images are reproducible.
var Epoch = time.Unix(1700000000, 0).UTC()

// File is one generated file in a layer.
type File struct {
	Path string // relative, slash-separated
	Mode int64  // permission bits; 0 means 0644
	Body string
}

// Files are the generated files of the busybox root besides busybox itself.
var Files = []File{
	{Path: "etc/passwd", Body: "root:x:0:0:root:/root:/bin/sh\nbuilder:x:1000:1000:builder:/home/builder:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"},
	{Path: "etc/group", Body: "root:x:0:\nbuilder:x:1000:\nusers:x:100:builder\nnogroup:x:65534:\n"},
}

// Dirs are the directories of the busybox root, created empty.
var Dirs = []string{"bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "home/builder", "proc", "sys", "dev", "workspace", "var/tmp"}

// Applets lists the applet paths (relative, e.g. "bin/sh") of the installed busybox.
func Applets() ([]string, error) {
	if _, err := os.Stat(BusyboxPath); err != nil {
		return nil, ErrNoBusybox
	}
	out, err := exec.Command(BusyboxPath, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("testimage: busybox --list-full: %w", err)
	}
	var list []string
	for _, l := range strings.Fields(string(out)) {
		if l != "bin/busybox" {
			list = append(list, l)
		}
	}
	sort.Strings(list)
	return list, nil
}

// WriteRootfs writes the busybox root filesystem into dir (which must exist).
func WriteRootfs(dir string) error {
	applets, err := Applets()
	if err != nil {
		return err
	}
	for _, d := range Dirs {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), 0o1777); err != nil {
		return err
	}
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "bin/busybox"), bb, 0o755); err != nil {
		return err
	}
	for _, a := range applets {
		if err := os.Symlink("/bin/busybox", filepath.Join(dir, a)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	for _, f := range Files {
		if err := os.WriteFile(filepath.Join(dir, f.Path), []byte(f.Body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Rootfs returns a fresh directory holding the busybox root filesystem. It
// fails the test when busybox-static is not installed.
func Rootfs(t interface {
	Helper()
	TempDir() string
	Fatal(...any)
}) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteRootfs(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}

// BusyboxTar returns the busybox root filesystem as an uncompressed tar stream.
func BusyboxTar() ([]byte, error) {
	applets, err := Applets()
	if err != nil {
		return nil, err
	}
	bb, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range Dirs {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := writeHeader(tw, &tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode}); err != nil {
			return nil, err
		}
	}
	if err := writeFile(tw, File{Path: "bin/busybox", Mode: 0o755, Body: string(bb)}); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if err := writeHeader(tw, &tar.Header{Typeflag: tar.TypeSymlink, Name: a, Linkname: "/bin/busybox", Mode: 0o777}); err != nil {
			return nil, err
		}
	}
	for _, f := range Files {
		if err := writeFile(tw, f); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// FilesTar returns a tar stream of the given files (parent dirs are not added).
func FilesTar(files ...File) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if err := writeFile(tw, f); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func writeFile(tw *tar.Writer, f File) error {
	mode := f.Mode
	if mode == 0 {
		mode = 0o644
	}
	h := &tar.Header{Typeflag: tar.TypeReg, Name: f.Path, Mode: mode, Size: int64(len(f.Body))}
	if err := writeHeader(tw, h); err != nil {
		return err
	}
	_, err := io.WriteString(tw, f.Body)
	return err
}

func writeHeader(tw *tar.Writer, h *tar.Header) error {
	h.ModTime = Epoch
	h.Format = tar.FormatPAX
	return tw.WriteHeader(h)
}

// LayerFromTar turns an uncompressed tar stream into a gzip-compressed layer.
func LayerFromTar(b []byte) (v1.Layer, error) {
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
}

// Busybox returns the busybox image for linux/amd64 (or the host's arch),
// with extra layers on top, and PATH set in its config.
func Busybox(extra ...v1.Layer) (v1.Image, error) {
	b, err := BusyboxTar()
	if err != nil {
		return nil, err
	}
	base, err := LayerFromTar(b)
	if err != nil {
		return nil, err
	}
	img := empty.Image
	for _, l := range append([]v1.Layer{base}, extra...) {
		mt, err := l.MediaType()
		if err != nil {
			return nil, err
		}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: l, MediaType: mt}); err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture = hostArch()
	cf.OS = "linux"
	cf.Created = v1.Time{Time: Epoch}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	cf.Config.Cmd = []string{"sh"}
	return mutate.ConfigFile(img, cf)
}
