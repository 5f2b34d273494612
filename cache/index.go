package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// imageRecord is images/<id>.json: what a reference resolved to, enough to
// use the image with no network.
type imageRecord struct {
	Ref      string        `json:"ref"`
	Platform string        `json:"platform"`
	Index    v1.Hash       `json:"index,omitzero"` // the index Digest was chosen from
	Digest   v1.Hash       `json:"digest"`         // manifest
	Config   v1.Hash       `json:"config"`
	Layers   []recordLayer `json:"layers"` // bottom first
	Created  time.Time     `json:"created"`
	Imported bool          `json:"imported,omitempty"` // from a file: no registry holds it
}

type recordLayer struct {
	Digest    v1.Hash         `json:"digest"`
	DiffID    v1.Hash         `json:"diffID"`
	Size      int64           `json:"size"`
	MediaType types.MediaType `json:"mediaType"`
}

// ImageInfo describes one stored image, for listing.
type ImageInfo struct {
	Ref      string    `json:"ref"`
	Platform string    `json:"platform"`
	Digest   v1.Hash   `json:"digest"`
	Layers   int       `json:"layers"`
	Size     int64     `json:"size"` // compressed bytes of its layers, as in the registry
	Created  time.Time `json:"created"`
}

func recordID(ref, platform string) string {
	sum := sha256.Sum256([]byte(ref + "\x00" + platform))
	return hex.EncodeToString(sum[:])
}

func (s *Store) recordPath(ref, platform string) string {
	return s.path(imagesDir, recordID(ref, platform)+".json")
}

// newRecord checks a manifest and its config against each other.
func newRecord(ref string, plat v1.Platform, index v1.Hash, digest v1.Hash, m *v1.Manifest, cf *v1.ConfigFile) (*imageRecord, error) {
	if err := checkConfigPlatform(cf, plat); err != nil {
		return nil, err
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("manifest %s has %d layers but its config lists %d diffIDs", digest, len(m.Layers), len(cf.RootFS.DiffIDs))
	}
	rec := &imageRecord{Ref: ref, Platform: plat.String(), Index: index, Digest: digest, Config: m.Config.Digest, Created: time.Now().UTC()}
	for i, l := range m.Layers {
		d := cf.RootFS.DiffIDs[i]
		if err := errors.Join(checkDigest(l.Digest), checkDigest(d)); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
		rec.Layers = append(rec.Layers, recordLayer{Digest: l.Digest, DiffID: d, Size: l.Size, MediaType: l.MediaType})
	}
	return rec, nil
}

func (s *Store) saveRecord(rec *imageRecord) error {
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	return s.writeFileAtomic(s.recordPath(rec.Ref, rec.Platform), b)
}

func (s *Store) loadRecord(ref, platform string) (*imageRecord, error) {
	return readRecord(s.recordPath(ref, platform))
}

func readRecord(path string) (*imageRecord, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rec imageRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &rec, nil
}

// records lists every image record (skipping unreadable ones).
func (s *Store) records() ([]*imageRecord, error) {
	paths, err := filepath.Glob(s.path(imagesDir, "*.json"))
	if err != nil {
		return nil, err
	}
	var out []*imageRecord
	for _, p := range paths {
		if rec, err := readRecord(p); err == nil {
			out = append(out, rec)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Ref < out[j].Ref || out[i].Ref == out[j].Ref && out[i].Platform < out[j].Platform
	})
	return out, nil
}

// Images lists the images in the store, by reference.
func (s *Store) Images() ([]ImageInfo, error) {
	recs, err := s.records()
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]ImageInfo, 0, len(recs))
	for _, r := range recs {
		info := ImageInfo{Ref: r.Ref, Platform: r.Platform, Digest: r.Digest, Layers: len(r.Layers), Created: r.Created}
		for _, l := range r.Layers {
			info.Size += l.Size
		}
		out = append(out, info)
	}
	return out, nil
}

// RemoveImage forgets the image ref (every platform of it) and returns how
// many entries it removed; errors.Is(err, ErrNotFound) when there were none.
// Its layers stay until Prune finds no image or live run using them.
func (s *Store) RemoveImage(ref string) (int, error) {
	r, err := parseRef(ref)
	if err != nil {
		return 0, err
	}
	recs, err := s.records()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, rec := range recs {
		byDigest := len(ref) >= len("sha256:")+12 && strings.HasPrefix(rec.Digest.String(), ref)
		if rec.Ref != r.Name() && !byDigest {
			continue
		}
		if err := os.Remove(s.recordPath(rec.Ref, rec.Platform)); err != nil && !os.IsNotExist(err) {
			return n, fmt.Errorf("remove image %s: %w", rec.Ref, err)
		}
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("remove image %s: %w (see pipe image ls)", r.Name(), ErrNotFound)
	}
	return n, nil
}
