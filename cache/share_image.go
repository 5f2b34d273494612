package cache

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
)

// PushImage makes an image of the store pullable from rem by digest, for
// a cluster that cannot reach this machine's store: an image imported from
// a file, or one of pipe's local images. The store keeps layers extracted,
// not their original blobs, so the image is packed again: each layer dir
// as a layer tar (LayerTar) compressed with gzip (every container runtime
// reads it), a copy of its config with the new diffIDs, and an OCI
// manifest tagged tag. When tag exists already (a push by an earlier run),
// nothing is packed and its digest is used. It returns "repo@sha256:...".
// Errors are *RemoteError.
func (s *Store) PushImage(ctx context.Context, rem *Remote, img *Image, tag string) (string, error) {
	ref, err := s.pushImage(ctx, rem, img, tag)
	if err != nil {
		return "", rem.errorf(err, "push image %s as %s", img.Ref, tag)
	}
	return ref, nil
}

func (s *Store) pushImage(ctx context.Context, rem *Remote, img *Image, tag string) (string, error) {
	if img.Config == nil {
		return "", fmt.Errorf("image %s has no config", img.Ref)
	}
	puller, pusher, err := rem.clients()
	if err != nil {
		return "", err
	}
	hctx, cancel := context.WithTimeout(ctx, rem.timeout)
	desc, herr := puller.Head(hctx, rem.repo.Tag(tag))
	cancel()
	if herr == nil {
		return rem.repo.Digest(desc.Digest.String()).String(), nil
	}
	if !isNotFound(herr) {
		return "", herr
	}
	entry, err := s.newTempEntry("push")
	if err != nil {
		return "", err
	}
	defer removeTree(entry)
	blobs, err := s.packLayers(entry, img.Layers)
	if err != nil {
		return "", err
	}
	cf := img.Config.DeepCopy()
	cf.RootFS = v1.RootFS{Type: "layers"}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Layers: []v1.Descriptor{}}
	for _, b := range blobs {
		if err := rem.uploadBlob(ctx, b); err != nil {
			return "", err
		}
		cf.RootFS.DiffIDs = append(cf.RootFS.DiffIDs, b.diffID)
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: types.OCILayer, Size: b.size, Digest: b.digest})
	}
	raw, err := json.Marshal(cf)
	if err != nil {
		return "", err
	}
	m.Config = v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(raw)), Digest: sha256Hash(raw)}
	if err := pusher.Upload(ctx, rem.repo, static.NewLayer(raw, types.OCIConfigJSON)); err != nil {
		return "", err
	}
	rawM, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	if err := pusher.Put(ctx, rem.repo.Tag(tag), rawManifest{rawM, types.OCIManifestSchema1}); err != nil {
		return "", err
	}
	return rem.repo.Digest(sha256Hash(rawM).String()).String(), nil
}

// packLayers writes each layer dir as a gzip layer blob into entry.
func (s *Store) packLayers(entry string, dirs []string) ([]*blobFile, error) {
	blobs := make([]*blobFile, 0, len(dirs))
	for i, dir := range dirs {
		rc := s.LayerTar(dir)
		b, err := gzipTar(rc, entry, "layer"+strconv.Itoa(i))
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("pack layer %d (%s): %w", i, dir, err)
		}
		blobs = append(blobs, b)
	}
	return blobs, nil
}

// gzipTar is compressTar with gzip: a blob of media type OCILayer.
func gzipTar(r io.Reader, dir, name string) (*blobFile, error) {
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zh := &hashWriter{w: f, h: sha256.New()}
	zw, err := gzip.NewWriterLevel(zh, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	th := &hashReader{r: r, h: sha256.New()}
	if _, err := io.Copy(zw, th); err != nil {
		zw.Close()
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return &blobFile{path: p, digest: zh.sum(), diffID: th.sum(), size: zh.n, mt: types.OCILayer}, nil
}

// PutImage pushes img to rem under tag unless the tag exists already (a
// push by an earlier run: its digest is used), and returns
// "repo@sha256:...". It is for images made in memory (pipe's agent image),
// whose digest is a function of their content. Errors are *RemoteError.
func (r *Remote) PutImage(ctx context.Context, img v1.Image, tag string) (string, error) {
	ref, err := r.putImage(ctx, img, tag)
	if err != nil {
		return "", r.errorf(err, "push image %s", tag)
	}
	return ref, nil
}

func (r *Remote) putImage(ctx context.Context, img v1.Image, tag string) (string, error) {
	puller, pusher, err := r.clients()
	if err != nil {
		return "", err
	}
	hctx, cancel := context.WithTimeout(ctx, r.timeout)
	desc, herr := puller.Head(hctx, r.repo.Tag(tag))
	cancel()
	if herr == nil {
		return r.repo.Digest(desc.Digest.String()).String(), nil
	}
	if !isNotFound(herr) {
		return "", herr
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	if err := pusher.Push(ctx, r.repo.Tag(tag), img); err != nil {
		return "", err
	}
	return r.repo.Digest(d.String()).String(), nil
}
