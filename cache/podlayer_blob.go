package cache

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// CompressLayer writes the uncompressed layer tar r as a compressed blob in
// the form the shared cache pushes layers in (zstd), into a new temp file in
// dir, hashing the tar and the blob on the way. The result is a v1.Layer
// whose digests and size are known, ready for remote.WriteLayer; remove is
// what deletes its file, once the layer is no longer needed.
func CompressLayer(r io.Reader, dir string) (layer v1.Layer, remove func() error, err error) {
	f, err := os.CreateTemp(dir, ".layer-*.tar.zst")
	if err != nil {
		return nil, nil, fmt.Errorf("compress the layer: %w", err)
	}
	p := f.Name()
	f.Close()
	os.Remove(p) // compressTarJobs creates it exclusively
	b, err := compressTarJobs(r, filepath.Dir(p), filepath.Base(p), 1)
	if err != nil {
		os.Remove(p)
		return nil, nil, fmt.Errorf("compress the layer into %s: %w", p, err)
	}
	return b, func() error { return os.Remove(p) }, nil
}

// DecompressLayer returns the uncompressed tar stream of a layer blob
// (gzip, zstd or a plain tar, told by its first bytes, never by a media
// type). Close releases the decoder but not r.
func DecompressLayer(r io.Reader) (io.ReadCloser, error) {
	out, _, closeFn, err := decompress(r)
	if err != nil {
		return nil, err
	}
	return decompressed{out, closeFn}, nil
}

type decompressed struct {
	io.Reader
	close func()
}

func (d decompressed) Close() error { d.close(); return nil }
