package cache

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// Import stores an image from a file, for machines with no registry: a
// `docker save` tarball, or an OCI image layout as a directory or a tar. name
// is the reference the image is stored under (e.g. "mybox:1", used then like
// any pulled reference); "" takes the name recorded in the archive.
func (s *Store) Import(ctx context.Context, path, name string) (*Image, error) {
	img, err := s.importImage(ctx, path, name)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	return img, nil
}

func (s *Store) importImage(ctx context.Context, path, name string) (*Image, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	gc, err := s.gcShared(ctx)
	if err != nil {
		return nil, err
	}
	defer gc.Unlock()
	pc := newPullContext(path, PullOptions{})
	var rec *imageRecord
	switch kind, kerr := archiveKind(path, fi); {
	case kerr != nil:
		return nil, kerr
	case kind == "oci-dir":
		rec, err = s.importLayout(ctx, path, name, pc)
	case kind == "oci-tar":
		rec, err = s.importLayoutTar(ctx, path, name, pc)
	default:
		rec, err = s.importDockerSave(ctx, path, name, pc)
	}
	if err != nil {
		return nil, err
	}
	if err := s.saveRecord(rec); err != nil {
		return nil, err
	}
	return s.imageFromRecord(rec)
}

// archiveKind tells an OCI layout dir, an OCI layout tar and a docker-save tar apart.
func archiveKind(p string, fi os.FileInfo) (string, error) {
	if fi.IsDir() {
		if _, err := os.Stat(filepath.Join(p, "oci-layout")); err != nil {
			return "", fmt.Errorf("directory is not an OCI image layout (no oci-layout file)")
		}
		return "oci-dir", nil
	}
	names, err := tarNames(p)
	if err != nil {
		return "", fmt.Errorf("not an image archive: want a docker save tarball or an OCI layout, as a dir or a tar (%w)", err)
	}
	switch {
	case names["oci-layout"] && names["index.json"]:
		return "oci-tar", nil
	case names["manifest.json"]:
		return "docker", nil
	}
	return "", fmt.Errorf("not an image archive: want a docker save tarball (with manifest.json) or an OCI layout (with oci-layout), as a dir or a tar")
}

// tarNames lists the top-level names in a tar file.
func tarNames(p string) (map[string]bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read tar: %w", err)
		}
		names[path.Clean(strings.TrimPrefix(h.Name, "./"))] = true
	}
}

// importLayoutTar unpacks an OCI layout tar into tmp/ and imports that.
func (s *Store) importLayoutTar(ctx context.Context, p, name string, pc *pullContext) (*imageRecord, error) {
	dir, err := s.newTempEntry("import")
	if err != nil {
		return nil, err
	}
	defer removeTree(dir)
	if err := untarPlain(p, dir); err != nil {
		return nil, err
	}
	return s.importLayout(ctx, dir, name, pc)
}

// untarPlain unpacks only directories and regular files, every path kept
// inside dir: an OCI layout needs nothing else.
func untarPlain(p, dir string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tar: %w", err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(path.Clean("/"+h.Name)))
		if err := untarEntry(tr, h, dst); err != nil {
			return fmt.Errorf("tar entry %s: %w", h.Name, err)
		}
	}
}

func untarEntry(tr *tar.Reader, h *tar.Header, dst string) error {
	switch h.Typeflag {
	case tar.TypeDir:
		return os.MkdirAll(dst, 0o755)
	case tar.TypeReg:
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		_, err = io.Copy(f, tr)
		return errors.Join(err, f.Close())
	}
	return nil
}

// importLayout imports one image of an OCI layout dir.
func (s *Store) importLayout(ctx context.Context, dir, name string, pc *pullContext) (*imageRecord, error) {
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, err
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	desc, ref, err := pickLayoutImage(im, name)
	if err != nil {
		return nil, err
	}
	plat := hostPlatform()
	var index v1.Hash
	if desc.MediaType.IsIndex() {
		if index, desc, err = s.layoutChild(lp, desc, plat); err != nil {
			return nil, err
		}
	}
	img, err := lp.Image(desc.Digest)
	if err != nil {
		return nil, err
	}
	return s.storeImage(ctx, img, ref, plat, index, pc, true)
}

// layoutChild picks the platform's image of an index in a layout.
func (s *Store) layoutChild(lp layout.Path, desc v1.Descriptor, plat v1.Platform) (v1.Hash, v1.Descriptor, error) {
	raw, err := lp.Bytes(desc.Digest)
	if err != nil {
		return v1.Hash{}, desc, err
	}
	if err := s.writeBlob(desc.Digest, raw); err != nil {
		return v1.Hash{}, desc, err
	}
	ii, err := lp.ImageIndex()
	if err != nil {
		return v1.Hash{}, desc, err
	}
	child, err := ii.ImageIndex(desc.Digest)
	if err != nil {
		return v1.Hash{}, desc, err
	}
	cm, err := child.IndexManifest()
	if err != nil {
		return v1.Hash{}, desc, err
	}
	d, err := choosePlatform(cm, plat)
	return desc.Digest, d, err
}

// refAnnotations name an image in an OCI layout's index.json.
var refAnnotations = []string{"io.containerd.image.name", "org.opencontainers.image.ref.name"}

// pickLayoutImage chooses the descriptor to import and the name to store it by.
func pickLayoutImage(im *v1.IndexManifest, name string) (v1.Descriptor, string, error) {
	var named []string
	for _, d := range im.Manifests {
		for _, a := range refAnnotations {
			if n := d.Annotations[a]; n != "" {
				named = append(named, n)
				if name != "" && sameRef(n, name) {
					return d, canonical(name), nil
				}
			}
		}
	}
	if len(im.Manifests) != 1 {
		return v1.Descriptor{}, "", fmt.Errorf("the layout holds %d images (%s): give the NAME of one", len(im.Manifests), strings.Join(named, ", "))
	}
	d := im.Manifests[0]
	if name == "" {
		name = d.Annotations[refAnnotations[0]]
	}
	if name == "" {
		return v1.Descriptor{}, "", fmt.Errorf("the layout names no image: give a NAME (e.g. pipe image import FILE myimage:1)")
	}
	if _, err := parseRef(name); err != nil {
		return v1.Descriptor{}, "", err
	}
	return d, canonical(name), nil
}

// canonical is the full name of a reference ("alpine" → library/alpine:latest on name.DefaultRegistry).
func canonical(ref string) string {
	r, err := parseRef(ref)
	if err != nil {
		return ref
	}
	return r.Name()
}

func sameRef(a, b string) bool { return a == b || canonical(a) == canonical(b) }
