package cache

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// A step result in a registry is one OCI image manifest tagged s-<key>
// (never sha256-*: GitLab reads such tags as digests, and they are the
// referrers fallback's namespace). Its artifactType is ResultArtifactType; its
// config (ResultConfig, also inlined in the descriptor's data, so a lookup is
// one GET) says what the result is; its one layer is the output layer as a
// zstd tar, absent when the step left no files. Results are written once: a
// tag that exists is never pushed again.
const (
	ResultArtifactType = "application/vnd.pipe.result.v1"
	resultConfigType   = "application/vnd.pipe.result.config.v1+json"
	resultSchema       = "pipe.result/v1"
	maxInlineConfig    = 64 << 10 // bigger configs are refused: pipe never writes one
)

// ResultConfig is the config blob of a result in a registry.
type ResultConfig struct {
	Schema  string    `json:"schema"` // "pipe.result/v1"
	Key     string    `json:"key"`
	Step    string    `json:"step"`
	RunID   string    `json:"runID"`
	Created time.Time `json:"created"`
	Size    int64     `json:"size"`
	Files   int       `json:"files"`
	DiffIDs []v1.Hash `json:"diffIDs"` // of the layers, in order
}

// resultTag is the tag of key's result.
func resultTag(key string) string { return "s-" + key }

// PushResult pushes the stored result for key to rem, unless rem has it
// already (pushed is then false). The output layer travels as zstd; the
// registry skips a blob it holds. Errors are *RemoteError.
func (s *Store) PushResult(ctx context.Context, rem *Remote, key string) (pushed bool, err error) {
	if err := rem.writable(); err != nil {
		return false, rem.errorf(err, "push step result %s", key)
	}
	pushed, err = s.pushResult(ctx, rem, key)
	if err != nil {
		rem.fail(err, true)
		return false, rem.errorf(err, "push step result %s", key)
	}
	return pushed, nil
}

func (s *Store) pushResult(ctx context.Context, rem *Remote, key string) (bool, error) {
	res, err := s.Result(key)
	if err != nil {
		return false, err
	}
	puller, pusher, err := rem.clients()
	if err != nil {
		return false, err
	}
	tag := rem.repo.Tag(resultTag(key))
	hctx, cancel := context.WithTimeout(ctx, rem.timeout)
	_, herr := puller.Head(hctx, tag)
	cancel()
	if herr == nil {
		return false, nil // write-once
	}
	if !isNotFound(herr) {
		return false, herr
	}
	cfg := ResultConfig{Schema: resultSchema, Key: key, Step: res.Meta.Step, RunID: res.Meta.RunID,
		Created: res.Meta.Created, Size: res.Meta.Size, Files: res.Meta.Files}
	var layers []v1.Layer
	if res.Meta.Files > 0 {
		entry, err := s.newTempEntry("push")
		if err != nil {
			return false, err
		}
		defer removeTree(entry)
		rc := s.LayerTar(res.Dir)
		blob, err := compressTar(rc, entry, "layer")
		rc.Close()
		if err != nil {
			return false, fmt.Errorf("compress the output layer: %w", err)
		}
		layers = append(layers, blob)
		cfg.DiffIDs = append(cfg.DiffIDs, blob.diffID)
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return false, err
	}
	return true, rem.putArtifact(ctx, pusher, resultTag(key), ResultArtifactType, resultConfigType, raw, layers, nil)
}

// putArtifact uploads the layers and the config, then the manifest under
// tag. Each transfer is cancelled when its bytes stop moving for the
// Remote's timeout. annotate, if set, gives layer i's descriptor annotations.
func (r *Remote) putArtifact(ctx context.Context, pusher *remote.Pusher, tag, artifactType string, configType types.MediaType, config []byte, layers []v1.Layer, annotate func(i int) map[string]string) error {
	wd := newWatchdog(ctx, r.timeout)
	defer wd.stop()
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: artifactType,
		Config: v1.Descriptor{MediaType: configType, Size: int64(len(config)), Digest: sha256Hash(config), Data: config},
		Layers: []v1.Descriptor{}}
	for i, l := range layers {
		if b, ok := l.(*blobFile); ok {
			b.wrap = wd.reader
		}
		if err := pusher.Upload(wd.ctx, r.repo, l); err != nil {
			return wd.err(err)
		}
		wd.kick()
		d, err := partial.Descriptor(l)
		if err != nil {
			return err
		}
		if annotate != nil {
			d.Annotations = annotate(i)
		}
		m.Layers = append(m.Layers, *d)
	}
	if err := pusher.Upload(wd.ctx, r.repo, static.NewLayer(config, configType)); err != nil {
		return wd.err(err)
	}
	wd.kick()
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if err := pusher.Put(wd.ctx, r.repo.Tag(tag), rawManifest{raw, types.OCIManifestSchema1}); err != nil {
		return wd.err(err)
	}
	return nil
}

// rawManifest is a hand-built manifest for remote.Put.
type rawManifest struct {
	b  []byte
	mt types.MediaType
}

func (m rawManifest) RawManifest() ([]byte, error)        { return m.b, nil }
func (m rawManifest) MediaType() (types.MediaType, error) { return m.mt, nil }

// FetchResult looks key up in rem and, on a hit, fetches its output layer,
// checks it against its digests, and commits it to the store: the returned
// Result is then stored locally like any other. A miss is ErrNotFound; a
// layer that does not match its digest is a *DigestError and nothing is kept.
// Errors are *RemoteError.
func (s *Store) FetchResult(ctx context.Context, rem *Remote, key string) (*Result, error) {
	if err := rem.readable(); err != nil {
		return nil, rem.errorf(err, "look up step result %s", key)
	}
	res, err := s.fetchResult(ctx, rem, key)
	if err != nil {
		rem.fail(err, false)
		return nil, rem.errorf(err, "fetch step result %s", key)
	}
	return res, nil
}

func (s *Store) fetchResult(ctx context.Context, rem *Remote, key string) (*Result, error) {
	hit, err := rem.lookupResult(ctx, key)
	if err != nil {
		return nil, err
	}
	return s.fetchHit(ctx, hit)
}

// resultHit is a result found in a registry, its layer not yet fetched.
type resultHit struct {
	rem *Remote
	key string
	m   *v1.Manifest
	cfg ResultConfig
}

// lookupResult finds key's manifest in rem: one GET.
func (r *Remote) lookupResult(ctx context.Context, key string) (*resultHit, error) {
	if err := checkName("result key", key); err != nil {
		return nil, err
	}
	m, raw, _, err := r.lookup(ctx, resultTag(key), ResultArtifactType)
	if err != nil {
		return nil, err
	}
	var cfg ResultConfig
	if err := json.Unmarshal(raw, &cfg); err != nil || cfg.Schema != resultSchema || cfg.Key != key || len(cfg.DiffIDs) != len(m.Layers) || len(m.Layers) > 1 {
		return nil, fmt.Errorf("tag %s is not pipe's result for this key (schema %q, key %q): %w", resultTag(key), cfg.Schema, cfg.Key, ErrNotFound)
	}
	return &resultHit{rem: r, key: key, m: m, cfg: cfg}, nil
}

// fetchHit fetches a found result's layer and commits it to the store.
func (s *Store) fetchHit(ctx context.Context, hit *resultHit) (*Result, error) {
	entry, err := s.newTempEntry("result")
	if err != nil {
		return nil, err
	}
	defer removeTree(entry)
	dir := filepath.Join(entry, entryFS)
	if len(hit.m.Layers) == 0 {
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, err
		}
	} else if err := s.fetchLayerInto(ctx, hit.rem, hit.m.Layers[0], hit.cfg.DiffIDs[0], dir); err != nil {
		return nil, err
	}
	c := hit.cfg
	return s.CommitResult(hit.key, dir, ResultMeta{Step: c.Step, RunID: c.RunID, Created: c.Created, Size: c.Size, Files: c.Files})
}

// lookup GETs the manifest tagged tag (one request on a warm Remote) and
// returns it with its inlined config, checked against its digest. A missing
// tag, or one that is not an artifact of artifactType, is ErrNotFound. The
// hash is the manifest's digest.
func (r *Remote) lookup(ctx context.Context, tag, artifactType string) (*v1.Manifest, []byte, v1.Hash, error) {
	var zero v1.Hash
	puller, _, err := r.clients()
	if err != nil {
		return nil, nil, zero, err
	}
	lctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	desc, err := puller.Get(lctx, r.repo.Tag(tag))
	if isNotFound(err) {
		return nil, nil, zero, fmt.Errorf("tag %s: %w", tag, ErrNotFound)
	}
	if err != nil {
		return nil, nil, zero, err
	}
	m, cfg, err := parseArtifact(desc.Manifest, tag, artifactType)
	if err != nil {
		return nil, nil, zero, err
	}
	return m, cfg, desc.Digest, nil
}

// parseArtifact reads a manifest a registry returned for tag: an artifact
// of artifactType with its config inlined and matching its digest, whose
// layers have digests that may become paths. Anything else is ErrNotFound
// (or a *DigestError for a config that does not match).
func parseArtifact(raw []byte, tag, artifactType string) (*v1.Manifest, []byte, error) {
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil || m.ArtifactType != artifactType {
		return nil, nil, fmt.Errorf("tag %s is not a %s artifact: %w", tag, artifactType, ErrNotFound)
	}
	cfg := m.Config.Data
	if len(cfg) == 0 || len(cfg) > maxInlineConfig || int64(len(cfg)) != m.Config.Size {
		return nil, nil, fmt.Errorf("tag %s: config not inlined: %w", tag, ErrNotFound)
	}
	if got := sha256Hash(cfg); got != m.Config.Digest {
		return nil, nil, &DigestError{What: "config", Want: m.Config.Digest, Got: got}
	}
	for _, l := range m.Layers {
		if checkDigest(l.Digest) != nil || l.Size < 0 {
			return nil, nil, fmt.Errorf("tag %s: layer digest %q: %w", tag, l.Digest, ErrNotFound)
		}
	}
	return m, cfg, nil
}

// fetchLayerInto streams a layer blob from rem through its digest checks
// into the new dir (an overlay-form tree). Nothing in dir may be used unless
// it returns nil.
func (s *Store) fetchLayerInto(ctx context.Context, rem *Remote, d v1.Descriptor, diffID v1.Hash, dir string) error {
	if err := checkDigest(d.Digest); err != nil {
		return err
	}
	puller, _, err := rem.clients()
	if err != nil {
		return err
	}
	wd := newWatchdog(ctx, rem.timeout)
	defer wd.stop()
	l, err := puller.Layer(wd.ctx, rem.repo.Digest(d.Digest.String()))
	if err != nil {
		return wd.err(err)
	}
	src := layerSource{Digest: d.Digest, DiffID: diffID, Size: d.Size, MediaType: d.MediaType, Open: func() (io.ReadCloser, error) {
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		return &digestGuard{rc: wd.reader(rc), h: sha256.New(), want: d.Digest}, nil
	}}
	if _, err := s.extractInto(wd.ctx, src, nil, dir); err != nil {
		return wd.err(err)
	}
	return nil
}

// digestGuard turns go-containerregistry's own digest and size check of a
// blob (an unexported error type) into a *DigestError, so a tampered blob is
// told apart from a registry that fails.
type digestGuard struct {
	rc   io.ReadCloser
	h    hash.Hash
	want v1.Hash
}

func (g *digestGuard) Read(p []byte) (int, error) {
	n, err := g.rc.Read(p)
	g.h.Write(p[:n])
	if err != nil && err != io.EOF && strings.Contains(err.Error(), "error verifying") {
		return n, &DigestError{What: "layer", Want: g.want, Got: g.sum()}
	}
	return n, err
}

func (g *digestGuard) Close() error { return g.rc.Close() }

func (g *digestGuard) sum() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(g.h.Sum(nil))}
}
