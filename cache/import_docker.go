package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// importDockerSave imports one image of a `docker save` tarball.
func (s *Store) importDockerSave(ctx context.Context, p, ref string, pc *pullContext) (*imageRecord, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(p) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, err
	}
	tag, ref, err := pickDockerImage(m, ref)
	if err != nil {
		return nil, err
	}
	img, err := tarball.Image(opener, tag)
	if err != nil {
		return nil, err
	}
	return s.storeImage(ctx, img, ref, hostPlatform(), v1.Hash{}, pc, false)
}

// pickDockerImage chooses the image of a docker-save manifest.json.
func pickDockerImage(m tarball.Manifest, ref string) (*name.Tag, string, error) {
	var tags []string
	for _, d := range m {
		for _, t := range d.RepoTags {
			tags = append(tags, t)
			if ref != "" && sameRef(t, ref) {
				tag, err := name.NewTag(t)
				return &tag, canonical(ref), err
			}
		}
	}
	switch {
	case len(m) != 1:
		return nil, "", fmt.Errorf("the tarball holds %d images (%s): give the NAME of one", len(m), strings.Join(tags, ", "))
	case ref == "" && len(tags) == 0:
		return nil, "", fmt.Errorf("the tarball names no image: give a NAME (e.g. pipe image import FILE myimage:1)")
	case ref == "":
		ref = tags[0]
	}
	if _, err := parseRef(ref); err != nil {
		return nil, "", err
	}
	return nil, canonical(ref), nil
}

// storeImage stores a local image: its layers (checked against their
// digests when verifyBlobs, else against their diffIDs only), its config and
// a manifest. A docker-save image has no registry manifest: pipe writes an OCI
// manifest of its uncompressed layers, so its digest is stable.
func (s *Store) storeImage(ctx context.Context, img v1.Image, ref string, plat v1.Platform, index v1.Hash, pc *pullContext, verifyBlobs bool) (*imageRecord, error) {
	rawCfg, err := img.RawConfigFile()
	if err != nil {
		return nil, err
	}
	cfgDigest := sha256Hash(rawCfg)
	if err := s.writeBlob(cfgDigest, rawCfg); err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	srcs, err := localSources(layers, verifyBlobs)
	if err != nil {
		return nil, err
	}
	if err := s.ensureLayers(ctx, srcs, pc); err != nil {
		return nil, err
	}
	rawM, err := s.localManifest(img, srcs, cfgDigest, rawCfg, verifyBlobs)
	if err != nil {
		return nil, err
	}
	rec, err := s.recordFromRaw(ref, plat, index, rawM, rawCfg)
	if err != nil {
		return nil, err
	}
	rec.Imported = true
	return rec, nil
}

// localSources reads each layer from the archive.
func localSources(layers []v1.Layer, verifyBlobs bool) ([]layerSource, error) {
	srcs := make([]layerSource, len(layers))
	for i, l := range layers {
		diffID, err := l.DiffID()
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		src := layerSource{DiffID: diffID, Size: -1, Open: l.Uncompressed}
		if verifyBlobs {
			if src.Digest, err = l.Digest(); err != nil {
				return nil, err
			}
			if src.Size, err = l.Size(); err != nil {
				return nil, err
			}
			src.MediaType, _ = l.MediaType()
			src.Open = l.Compressed
		}
		srcs[i] = src
	}
	return srcs, nil
}

// localManifest is the image's own manifest (layouts) or one pipe writes
// (docker save), kept as a blob.
func (s *Store) localManifest(img v1.Image, srcs []layerSource, cfgDigest v1.Hash, rawCfg []byte, own bool) ([]byte, error) {
	var raw []byte
	var err error
	if own {
		raw, err = img.RawManifest()
	} else {
		raw, err = s.uncompressedManifest(srcs, cfgDigest, rawCfg)
	}
	if err != nil {
		return nil, err
	}
	return raw, s.writeBlob(sha256Hash(raw), raw)
}

func (s *Store) uncompressedManifest(srcs []layerSource, cfgDigest v1.Hash, rawCfg []byte) ([]byte, error) {
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIConfigJSON, Digest: cfgDigest, Size: int64(len(rawCfg))},
	}
	for _, src := range srcs {
		b, err := os.ReadFile(filepath.Join(s.layerPath(src.DiffID), entryMeta))
		if err != nil {
			return nil, err
		}
		var lm layerMeta
		if err := json.Unmarshal(b, &lm); err != nil {
			return nil, err
		}
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.OCIUncompressedLayer, Digest: src.DiffID, Size: lm.Size})
	}
	return json.Marshal(m)
}

// recordFromRaw builds the record of a stored manifest and config.
func (s *Store) recordFromRaw(ref string, plat v1.Platform, index v1.Hash, rawM, rawCfg []byte) (*imageRecord, error) {
	m, err := v1.ParseManifest(strings.NewReader(string(rawM)))
	if err != nil {
		return nil, err
	}
	if got := sha256Hash(rawCfg); m.Config.Digest != got {
		return nil, &DigestError{What: "config", Want: m.Config.Digest, Got: got}
	}
	cf, err := v1.ParseConfigFile(strings.NewReader(string(rawCfg)))
	if err != nil {
		return nil, err
	}
	return newRecord(ref, plat, index, sha256Hash(rawM), m, cf)
}
