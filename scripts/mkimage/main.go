// Command mkimage writes pipe's local images as OCI image layouts, from things a
// machine with no container registry has: Debian's busybox-static and the Go
// toolchain installed on the machine. `pipe image import DIR NAME` then makes
// them usable in a .pipe.yml.
//
//	go run ./scripts/mkimage -kind busybox -o DIR
//	go run ./scripts/mkimage -kind go -goroot /usr/local/go -o DIR
package main

import (
	"archive/tar"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/pipe-run/pipe/internal/testimage"
)

func main() {
	kind := flag.String("kind", "busybox", "image to build: busybox or go")
	out := flag.String("o", "", "output OCI layout directory (created; must not exist)")
	goroot := flag.String("goroot", "/usr/local/go", "Go toolchain to put into the go image")
	certs := flag.String("certs", "/etc/ssl/certs/ca-certificates.crt", "CA bundle for the go image (module downloads over TLS)")
	flag.Parse()
	if err := run(*kind, *out, *goroot, *certs); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(kind, out, goroot, certs string) error {
	if out == "" {
		return fmt.Errorf("-o DIR is required")
	}
	var img v1.Image
	var err error
	switch kind {
	case "busybox":
		img, err = testimage.Busybox()
	case "go":
		img, err = goImage(goroot, certs)
	default:
		return fmt.Errorf("-kind %q: want busybox or go", kind)
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(out), ".mkimage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}

// goImage is busybox plus the Go toolchain at /usr/local/go and a CA bundle.
func goImage(goroot, certs string) (v1.Image, error) {
	gl, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return treeTar(goroot, "usr/local/go", certs) },
		tarball.WithCompressionLevel(1))
	if err != nil {
		return nil, err
	}
	img, err := testimage.Busybox(gl)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Config.Env = []string{
		"PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"GOROOT=/usr/local/go", "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false",
		"GOTOOLCHAIN=local", "HOME=/root", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
	}
	return mutate.ConfigFile(img, cf)
}

// skipDirs are parts of a Go toolchain that building and testing never read.
var skipDirs = map[string]bool{"test": true, "api": true, "doc": true, "misc": true}

// treeTar streams src as a tar under prefix, plus the CA bundle, with fixed
// owners and mtimes so the layer is reproducible.
func treeTar(src, prefix, certs string) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(src, path)
			if d.IsDir() && skipDirs[rel] {
				return filepath.SkipDir
			}
			return addEntry(tw, path, filepath.ToSlash(filepath.Join(prefix, rel)))
		})
		if err == nil {
			for _, d := range []string{"etc/ssl", "etc/ssl/certs"} {
				if err = tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: testimage.Epoch}); err != nil {
					break
				}
			}
		}
		if err == nil {
			err = addEntry(tw, certs, "etc/ssl/certs/ca-certificates.crt")
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

func addEntry(tw *tar.Writer, path, name string) error {
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		if link, err = os.Readlink(path); err != nil {
			return err
		}
	}
	h, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	h.Name = strings.TrimPrefix(name, "/")
	if fi.IsDir() {
		h.Name += "/"
	}
	h.Uid, h.Gid, h.Uname, h.Gname = 0, 0, "", ""
	h.ModTime, h.AccessTime, h.ChangeTime = testimage.Epoch, testimage.Epoch, testimage.Epoch
	h.Format = tar.FormatPAX
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(tw, f)
	return err
}
