package executor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/isolation"
)

// maxIDFile bounds the /etc/passwd or /etc/group read from an image.
const maxIDFile = 4 << 20

// imageUserIDs resolves a step's user ("name", "name:group", "uid", ...)
// into "uid:gid" with the image's /etc/passwd and /etc/group, as a local
// container resolves it: a pod's securityContext takes numbers only. ""
// stays "" (the image's default: root unless its config says otherwise,
// which stepSpec already applied).
func imageUserIDs(img *cache.Image, user string) (string, error) {
	if user == "" {
		return "", nil
	}
	passwd, err := imageFile(img.Layers, "etc/passwd")
	if err != nil {
		return "", err
	}
	group, err := imageFile(img.Layers, "etc/group")
	if err != nil {
		return "", err
	}
	u, err := isolation.ResolveUser(user, readerOrNil(passwd), readerOrNil(group))
	if err != nil {
		return "", fmt.Errorf("%q in image %s: %w", user, img.Ref, err)
	}
	return fmt.Sprintf("%d:%d", u.UID, u.GID), nil
}

func readerOrNil(b []byte) io.Reader {
	if b == nil {
		return nil
	}
	return bytes.NewReader(b)
}

// imageFile reads the file rel of an image from its extracted layers
// (overlay form, bottom first) as the overlay would show it: the topmost
// layer that has it wins; a whiteout of it or of a parent, or an opaque
// parent, hides the layers below. nil when the image has no such file.
func imageFile(layers []string, rel string) ([]byte, error) {
	for i := len(layers) - 1; i >= 0; i-- {
		b, stop, err := layerFile(layers[i], rel)
		if err != nil || b != nil || stop {
			return b, err
		}
	}
	return nil, nil
}

// layerFile reads rel from one layer dir; stop says the layer hides rel
// from the layers below it.
func layerFile(layer, rel string) (b []byte, stop bool, err error) {
	parts := strings.Split(rel, "/")
	p := layer
	for i, part := range parts {
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		last := i == len(parts)-1
		switch {
		case isWhiteout(fi), fi.Mode()&fs.ModeSymlink != 0:
			return nil, true, nil // a whiteout, or a link pipe does not follow out of the image
		case !last && !fi.IsDir():
			return nil, true, nil
		case !last && isOpaqueDir(p):
			return readSmall(filepath.Join(layer, rel))
		case last && fi.Mode().IsRegular():
			b, _, err := readSmall(p)
			return b, true, err
		case last:
			return nil, true, nil
		}
	}
	return nil, false, nil
}

// readSmall reads a file of at most maxIDFile bytes; stop is true (the
// layer decides, whether it has the file or not).
func readSmall(p string) ([]byte, bool, error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, true, nil
	}
	if err != nil {
		return nil, true, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxIDFile+1))
	if err != nil {
		return nil, true, err
	}
	if len(b) > maxIDFile {
		return nil, true, fmt.Errorf("%s: larger than %d bytes", p, maxIDFile)
	}
	return b, true, nil
}
