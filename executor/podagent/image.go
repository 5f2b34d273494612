package podagent

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// ImagePath is where the agent image holds the binary.
const ImagePath = "/pipe"

// Image is the agent image: one layer holding the static binary exe at
// /pipe (mode 0755, owned by root), for linux and the running architecture.
// It is reproducible: the same binary gives the same digest (every time in
// the layer and the config is the Unix epoch, the compression is fixed).
func Image(exe string) (v1.Image, error) {
	bin, err := os.ReadFile(exe)
	if err != nil {
		return nil, fmt.Errorf("agent image: %w", err)
	}
	layerTar, err := binaryTar(bin)
	if err != nil {
		return nil, fmt.Errorf("agent image: %w", err)
	}
	blob, err := gzipBytes(layerTar)
	if err != nil {
		return nil, fmt.Errorf("agent image: layer: %w", err)
	}
	layer := &gzipLayer{gz: blob, digest: sha256Hash(blob), diffID: sha256Hash(layerTar)}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: "pipe pod-agent image", Created: v1.Time{Time: time.Unix(0, 0).UTC()}}})
	if err != nil {
		return nil, fmt.Errorf("agent image: %w", err)
	}
	return withPlatform(img)
}

// gzipBytes compresses b with no name and no time in the header, so that
// the same bytes always give the same blob.
func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// binaryTar is the layer tar: the one file /pipe.
func binaryTar(bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	h := &tar.Header{Typeflag: tar.TypeReg, Name: ImagePath[1:], Mode: 0o755, Size: int64(len(bin)), ModTime: time.Unix(0, 0), Format: tar.FormatUSTAR}
	if err := tw.WriteHeader(h); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// withPlatform sets the config's OS, architecture, entrypoint and dates.
func withPlatform(img v1.Image) (v1.Image, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("agent image: config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cf.Config.Entrypoint = []string{ImagePath}
	cf.Config.Env = nil
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		return nil, fmt.Errorf("agent image: config: %w", err)
	}
	return img, nil
}

// ImageTag is the tag the agent image of the binary exe goes by in the
// cache repository: pipe-agent-<the first 12 hex digits of its sha256>.
func ImageTag(exe string) (string, error) {
	f, err := os.Open(exe)
	if err != nil {
		return "", fmt.Errorf("agent image tag: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("agent image tag: %s: %w", exe, err)
	}
	return "pipe-agent-" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// gzipLayer is a gzip layer held in memory with its digests.
type gzipLayer struct {
	gz             []byte
	digest, diffID v1.Hash
}

var _ v1.Layer = (*gzipLayer)(nil)

// Digest is the blob's sha256.
func (l *gzipLayer) Digest() (v1.Hash, error) { return l.digest, nil }

// DiffID is the tar's sha256.
func (l *gzipLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// Size is the blob's length.
func (l *gzipLayer) Size() (int64, error) { return int64(len(l.gz)), nil }

// MediaType is an OCI gzip layer.
func (l *gzipLayer) MediaType() (types.MediaType, error) { return types.OCILayer, nil }

// Compressed reads the blob.
func (l *gzipLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.gz)), nil
}

// Uncompressed reads the tar.
func (l *gzipLayer) Uncompressed() (io.ReadCloser, error) {
	return gzip.NewReader(bytes.NewReader(l.gz))
}

// sha256Hash is the sha256 of b as a v1.Hash.
func sha256Hash(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}
