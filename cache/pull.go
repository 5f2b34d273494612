package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"
)

// PullPolicy says when Pull asks a registry.
type PullPolicy string

// Pull policies, as in Docker and Kubernetes.
const (
	PullMissing PullPolicy = "missing" // use the stored image; pull only when it is missing (default)
	PullAlways  PullPolicy = "always"  // resolve the reference at the registry every time; fetch only missing layers
	PullNever   PullPolicy = "never"   // never touch the network; fail when the image is not stored
)

// ParsePullPolicy reads a pull policy; "" is PullMissing.
func ParsePullPolicy(s string) (PullPolicy, error) {
	switch p := PullPolicy(s); p {
	case "":
		return PullMissing, nil
	case PullMissing, PullAlways, PullNever:
		return p, nil
	}
	return "", fmt.Errorf("pull policy %q: want missing, always or never", s)
}

// ErrNotCached is returned by Pull with PullNever for an image not in the store.
var ErrNotCached = errors.New("image is not in the local store")

// layerJobs bounds the layers fetched and extracted at once by one Pull.
const layerJobs = 3

// PullOptions tune Pull.
type PullOptions struct {
	Policy   PullPolicy   // "" is PullMissing
	Progress io.Writer    // a terminal to draw progress on; nil: none
	Platform *v1.Platform // nil: this host's platform
	Warn     func(string) // warnings (a corrupt download fetched again); nil: written to Progress, if any
	Lease    *Lease       // if set, the image is added to it before Pull returns, so no prune can remove it in between
	// Keychain gives registry credentials (a CI job's own); nil: the Docker
	// config and its credential helpers.
	Keychain authn.Keychain
}

// Image is a pulled or imported image, ready to be mounted.
type Image struct {
	Ref    string         // canonical name (registry, repository, tag or digest), or the import name
	Digest v1.Hash        // manifest digest: part of every step key
	Config *v1.ConfigFile // Env, WorkingDir, User, Entrypoint/Cmd
	Layers []string       // extracted layer dirs in overlay form, bottom first
	// Local says no registry holds the image: it was imported from a file
	// or is one of pipe's local images (LocalRegistry). A machine that
	// needs it from elsewhere gets it pushed (PushImage).
	Local bool
}

// Pull makes the image ref available in the store and returns it. With
// PullMissing a stored image is used with no network request at all: a tag is
// resolved through the local index, a digest straight from the blobs.
// Registry credentials come from the Docker config and its credential helpers.
func (s *Store) Pull(ctx context.Context, ref string, o PullOptions) (*Image, error) {
	img, err := s.pull(ctx, ref, o)
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	return img, nil
}

func (s *Store) pull(ctx context.Context, ref string, o PullOptions) (*Image, error) {
	policy, err := ParsePullPolicy(string(o.Policy))
	if err != nil {
		return nil, err
	}
	r, err := parseRef(ref)
	if err != nil {
		return nil, err
	}
	plat := platformOf(o)
	gc, err := s.gcShared(ctx)
	if err != nil {
		return nil, err
	}
	defer gc.Unlock()
	pc := newPullContext(r.Name(), o)
	local := r.Context().RegistryStr() == LocalRegistry // whatever the policy: there is nowhere to pull from
	if policy != PullAlways || local {
		rec, err := s.localRecord(r, plat)
		if err == nil {
			var img *Image
			if img, err = s.use(rec, o); err == nil {
				return img, nil
			}
		}
		var de *DigestError
		if errors.As(err, &de) {
			pc.warnf("%v; fetching it again", err)
		}
		if policy == PullNever {
			return nil, fmt.Errorf("%w (pull policy never): run `pipe image pull %s` or `pipe image import` first", ErrNotCached, ref)
		}
	}
	if local {
		return nil, fmt.Errorf("%w: %s images are made on this machine, never pulled (`make install` builds pipe's own; `pipe image import FILE %s` adds one)", ErrNotCached, LocalRegistry, ref)
	}
	defer pc.finish()
	rec, err := s.pullRemote(ctx, r, plat, pc)
	if err != nil {
		return nil, err
	}
	if err := s.saveRecord(rec); err != nil {
		return nil, err
	}
	return s.use(rec, o)
}

// use leases the record's image and opens it.
func (s *Store) use(rec *imageRecord, o PullOptions) (*Image, error) {
	if o.Lease != nil {
		if err := o.Lease.Add(rec.ids()...); err != nil {
			return nil, err
		}
	}
	return s.imageFromRecord(rec)
}

// localRecord resolves r with the store alone.
func (s *Store) localRecord(r name.Reference, plat v1.Platform) (*imageRecord, error) {
	var rec *imageRecord
	var err error
	if d, ok := r.(name.Digest); ok {
		rec, err = s.recordFromBlobs(d, plat)
	} else {
		rec, err = s.loadRecord(r.Name(), plat.String())
	}
	if err != nil {
		return nil, err
	}
	for _, l := range rec.Layers {
		if !s.hasLayer(l.DiffID) {
			return nil, fmt.Errorf("layer %s: %w", l.DiffID, ErrNotFound)
		}
	}
	if !s.hasBlob(rec.Config) {
		return nil, fmt.Errorf("config %s: %w", rec.Config, ErrNotFound)
	}
	return rec, nil
}

// recordFromBlobs resolves a digest reference from stored manifests.
func (s *Store) recordFromBlobs(d name.Digest, plat v1.Platform) (*imageRecord, error) {
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		return nil, err
	}
	raw, err := s.readBlob(h)
	if err != nil {
		return nil, err
	}
	var index v1.Hash
	if idx, err := v1.ParseIndexManifest(bytes.NewReader(raw)); err == nil && idx.MediaType.IsIndex() {
		child, err := choosePlatform(idx, plat)
		if err != nil {
			return nil, err
		}
		index, h = h, child.Digest
		if raw, err = s.readBlob(h); err != nil {
			return nil, err
		}
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("stored manifest %s: %w", h, err)
	}
	cfg, err := s.readBlob(m.Config.Digest)
	if err != nil {
		return nil, err
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(cfg))
	if err != nil {
		return nil, fmt.Errorf("stored config %s: %w", m.Config.Digest, err)
	}
	return newRecord(d.Name(), plat, index, h, m, cf)
}

// imageFromRecord opens a stored image.
func (s *Store) imageFromRecord(rec *imageRecord) (*Image, error) {
	raw, err := s.readBlob(rec.Config)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", rec.Config, err)
	}
	img := &Image{Ref: rec.Ref, Digest: rec.Digest, Config: cf, Local: rec.Imported || isLocalRef(rec.Ref)}
	for _, l := range rec.Layers {
		img.Layers = append(img.Layers, s.layerDir(l.DiffID))
	}
	return img, nil
}

// ids are what a lease holds to keep this image.
func (rec *imageRecord) ids() []string {
	ids := []string{rec.Digest.String(), rec.Config.String()}
	if rec.Index.Hex != "" {
		ids = append(ids, rec.Index.String())
	}
	for _, l := range rec.Layers {
		ids = append(ids, l.DiffID.String())
	}
	return ids
}

// remoteOptions configure go-containerregistry: the credentials of kc, the
// platform, and retries with backoff on 5xx and network errors.
func (s *Store) remoteOptions(ctx context.Context, plat v1.Platform, kc authn.Keychain) []remote.Option {
	backoff := remote.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 5}
	if s.backoff != nil {
		backoff = *s.backoff
	}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithPlatform(plat),
		remote.WithUserAgent("pipe"),
		remote.WithRetryBackoff(backoff),
		remote.WithRetryStatusCodes(http.StatusRequestTimeout, http.StatusTooManyRequests,
			http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout),
	}
	if s.transport != nil {
		opts = append(opts, remote.WithTransport(s.transport))
	}
	return opts
}

// ensureLayers extracts the missing layers, a few at a time.
func (s *Store) ensureLayers(ctx context.Context, srcs []layerSource, pc *pullContext) error {
	pc.setLayers(len(srcs))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(layerJobs)
	for _, src := range srcs {
		g.Go(func() error { return s.ensureLayer(gctx, src, pc) })
	}
	return g.Wait()
}
