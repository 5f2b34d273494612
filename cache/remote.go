package cache

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// pullRemote resolves r at its registry and fetches what the store lacks:
// the manifest (and index), the config and the missing layers.
func (s *Store) pullRemote(ctx context.Context, r name.Reference, plat v1.Platform, pc *pullContext) (*imageRecord, error) {
	opts := s.remoteOptions(ctx, plat, pc.keychain)
	desc, err := s.getManifest(r, opts)
	if err != nil {
		return nil, err
	}
	var index v1.Hash
	if desc.MediaType.IsIndex() {
		idx, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", desc.Digest, err)
		}
		child, err := choosePlatform(idx, plat)
		if err != nil {
			return nil, err
		}
		index = desc.Digest
		if desc, err = s.getManifest(r.Context().Digest(child.Digest.String()), opts); err != nil {
			return nil, err
		}
	}
	if !desc.MediaType.IsImage() {
		return nil, fmt.Errorf("manifest %s has media type %s: not an image pipe can run (Docker schema 1 images are not supported)", desc.Digest, desc.MediaType)
	}
	return s.fetchImage(ctx, r, plat, index, desc, pc)
}

// getManifest fetches a manifest or index and keeps it as a blob.
func (s *Store) getManifest(r name.Reference, opts []remote.Option) (*remote.Descriptor, error) {
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return nil, fmt.Errorf("registry %s: %w", r.Context().RegistryStr(), err)
	}
	if err := s.writeBlob(desc.Digest, desc.Manifest); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	return desc, nil
}

// fetchImage fetches the config and the layers of one image manifest.
func (s *Store) fetchImage(ctx context.Context, r name.Reference, plat v1.Platform, index v1.Hash, desc *remote.Descriptor, pc *pullContext) (*imageRecord, error) {
	img, err := desc.Image()
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", desc.Digest, err)
	}
	cfg, err := s.configBlob(m.Config.Digest, img.RawConfigFile, pc)
	if err != nil {
		return nil, err
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(cfg))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", m.Config.Digest, err)
	}
	rec, err := newRecord(r.Name(), plat, index, desc.Digest, m, cf)
	if err != nil {
		return nil, err
	}
	srcs := make([]layerSource, len(rec.Layers))
	for i, l := range rec.Layers {
		srcs[i] = layerSource{Digest: l.Digest, DiffID: l.DiffID, Size: l.Size, MediaType: l.MediaType, Open: func() (io.ReadCloser, error) {
			rl, err := img.LayerByDigest(l.Digest)
			if err != nil {
				return nil, err
			}
			return rl.Compressed()
		}}
	}
	return rec, s.ensureLayers(ctx, srcs, pc)
}

// configBlob returns a stored config blob, fetching it when missing or corrupt.
func (s *Store) configBlob(h v1.Hash, fetch func() ([]byte, error), pc *pullContext) ([]byte, error) {
	if err := checkDigest(h); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if s.hasBlob(h) {
		b, err := s.readBlob(h)
		if err == nil {
			return b, nil
		}
		pc.warnf("%v; fetching it again", err)
	}
	b, err := fetch()
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", h, err)
	}
	if err := s.writeBlob(h, b); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return b, nil
}
