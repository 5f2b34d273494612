package cache

import (
	"context"
	"errors"
	"fmt"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Layers that travel alone: when steps run on a cluster, a step's workspace
// (the snapshot and the output layers of the steps it needs) goes to its pod
// as blobs of the cache repository, and what the step wrote under
// /workspace comes back as one. A blob is addressed by its digest only (no
// tag: nothing names it but the pod's spec and the step's result), so it is
// uploaded once, whatever the number of runs and steps that use it.

// LayerBlob is one layer blob in a registry repository: enough to fetch
// it and check it.
type LayerBlob struct {
	Digest    v1.Hash         // of the compressed blob
	DiffID    v1.Hash         // of the uncompressed tar
	Size      int64           // compressed bytes
	MediaType types.MediaType // an OCI layer media type (zstd or gzip)
}

// PushLayerDir makes the overlay-form dir (a snapshot, an output layer)
// an OCI layer blob of rem: it streams it as a layer tar (whiteouts as .wh.
// entries, opaque dirs as .wh..wh..opq, see LayerTar), compresses it with
// zstd into a tmp/ entry while hashing both, and uploads it unless the
// registry holds that digest already (a HEAD first). Errors are
// *RemoteError, or the tar's own error for a dir that cannot be read.
func (s *Store) PushLayerDir(ctx context.Context, rem *Remote, dir string) (LayerBlob, error) {
	entry, err := s.newTempEntry("push")
	if err != nil {
		return LayerBlob{}, err
	}
	defer removeTree(entry)
	rc := s.LayerTar(dir)
	blob, err := compressTar(rc, entry, "layer")
	rc.Close()
	if err != nil {
		return LayerBlob{}, fmt.Errorf("layer of %s: %w", dir, err)
	}
	if err := rem.uploadBlob(ctx, blob); err != nil {
		return LayerBlob{}, rem.errorf(err, "push layer %s (of %s)", blob.digest, dir)
	}
	return blob.describe(), nil
}

// FetchLayerDir fetches the layer blob l from rem into dir, in overlay
// form (OCI whiteouts become overlay whiteouts, as for image layers), after
// the safe extractor: nothing is written outside dir. dir must not exist
// or be empty; its parent must exist. The blob's digest and size and the
// tar's diffID are checked on the way: on any error (a *DigestError for a
// blob that is not what l says) dir holds nothing usable, and the caller
// removes it.
func (s *Store) FetchLayerDir(ctx context.Context, rem *Remote, l LayerBlob, dir string) error {
	if err := checkDigest(l.DiffID); err != nil {
		return fmt.Errorf("layer %s: diffID: %w", l.Digest, err)
	}
	if !isLayerMediaType(l.MediaType) {
		return fmt.Errorf("layer %s: media type %q is not an OCI or Docker layer", l.Digest, l.MediaType)
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("layer %s: %s must be empty: %w", l.Digest, dir, err)
	}
	d := v1.Descriptor{Digest: l.Digest, Size: l.Size, MediaType: l.MediaType}
	if err := s.fetchLayerInto(ctx, rem, d, l.DiffID, dir); err != nil {
		return rem.errorf(err, "fetch layer %s", l.Digest)
	}
	return nil
}

// isLayerMediaType reports whether mt names a layer blob the extractor
// reads (it picks the codec from the bytes, not from mt).
func isLayerMediaType(mt types.MediaType) bool {
	switch mt {
	case types.OCILayer, types.OCILayerZStd, types.OCIUncompressedLayer, types.DockerLayer, types.DockerUncompressedLayer:
		return true
	}
	return false
}

// uploadBlob uploads the blob unless the registry has it (the Pusher asks
// with a HEAD first); it is cancelled when its bytes stop moving for the
// Remote's timeout.
func (r *Remote) uploadBlob(ctx context.Context, b *blobFile) error {
	_, pusher, err := r.clients()
	if err != nil {
		return err
	}
	wd := newWatchdog(ctx, r.timeout)
	defer wd.stop()
	b.wrap = wd.reader
	if err := pusher.Upload(wd.ctx, r.repo, b); err != nil {
		return wd.err(err)
	}
	return nil
}

// describe is the blob's LayerBlob.
func (b *blobFile) describe() LayerBlob {
	mt, _ := b.MediaType()
	return LayerBlob{Digest: b.digest, DiffID: b.diffID, Size: b.size, MediaType: mt}
}
