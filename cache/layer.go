package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// maxLayerAttempts bounds how often a layer whose download failed its checks
// is fetched again.
const maxLayerAttempts = 3

// layerSource is where one layer's blob comes from.
type layerSource struct {
	Digest    v1.Hash // digest of the blob as fetched; zero when the source is trusted local tar (not checked)
	DiffID    v1.Hash // digest of the uncompressed tar: the layer's identity in the store
	Size      int64   // blob size, or -1 when unknown
	MediaType types.MediaType
	Open      func() (io.ReadCloser, error)
}

// layerMeta is layers/sha256/<diffid>/meta.json.
type layerMeta struct {
	DiffID    v1.Hash         `json:"diffID"`
	Digest    v1.Hash         `json:"digest,omitzero"`
	MediaType types.MediaType `json:"mediaType,omitempty"`
	Codec     string          `json:"codec"`
	Size      int64           `json:"size"` // uncompressed bytes
	Created   time.Time       `json:"created"`
}

// layerDir is the overlay lower dir of an extracted layer.
func (s *Store) layerDir(diffID v1.Hash) string {
	return filepath.Join(s.layerPath(diffID), entryFS)
}

// hasLayer reports whether the layer was extracted whole (entries appear only
// by rename, after extraction and verification).
func (s *Store) hasLayer(diffID v1.Hash) bool {
	if checkDigest(diffID) != nil {
		return false
	}
	_, err := os.Stat(filepath.Join(s.layerPath(diffID), entryMeta))
	return err == nil
}

// ensureLayer extracts the layer into the store unless it is there. One
// process at a time extracts a given layer; the others wait for it and reuse
// its result, so no layer is downloaded twice.
func (s *Store) ensureLayer(ctx context.Context, src layerSource, pc *pullContext) error {
	if err := checkDigest(src.DiffID); err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	if s.hasLayer(src.DiffID) {
		pc.layerCached(src)
		return nil
	}
	l, err := lockFile(ctx, s.lockPath("layer-"+src.DiffID.Hex), true)
	if err != nil {
		return err
	}
	defer l.Unlock()
	if s.hasLayer(src.DiffID) {
		pc.layerCached(src)
		return nil
	}
	return s.fetchLayer(ctx, src, pc)
}

// fetchLayer extracts the layer, fetching it again (with a warning) when the
// download was truncated or failed its digest check.
func (s *Store) fetchLayer(ctx context.Context, src layerSource, pc *pullContext) error {
	for attempt := 1; ; attempt++ {
		err := s.extractOnce(ctx, src, pc)
		var dl *downloadError
		if err == nil || ctx.Err() != nil || !errors.As(err, &dl) || attempt == maxLayerAttempts {
			if err != nil {
				return fmt.Errorf("layer %s: %w", layerName(src), err)
			}
			pc.layerDone()
			return nil
		}
		pc.warnf("layer %s: %v; discarded, fetching it again (attempt %d of %d)", layerName(src), dl.err, attempt+1, maxLayerAttempts)
	}
}

func layerName(src layerSource) string {
	if src.Digest.Hex != "" {
		return src.Digest.String()
	}
	return src.DiffID.String()
}

// downloadError is a failure of the download rather than of the content: the
// blob stream broke or did not match its digest. Fetching again may help.
type downloadError struct{ err error }

func (e *downloadError) Error() string { return e.err.Error() }
func (e *downloadError) Unwrap() error { return e.err }

// extractOnce streams the blob through its digest check, the decompressor and
// the diffID check into the extractor, in a tmp/ entry that is renamed into
// layers/ only when every check passed and the tree is synced.
func (s *Store) extractOnce(ctx context.Context, src layerSource, pc *pullContext) error {
	entry, err := s.newTempEntry("layer")
	if err != nil {
		return err
	}
	defer removeTree(entry)
	meta, err := s.extractInto(ctx, src, pc, filepath.Join(entry, entryFS))
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(entry, entryMeta), b, 0o644); err != nil {
		return err
	}
	return s.commitEntry(entry, s.layerPath(src.DiffID))
}

// extractInto fills dir with the layer and returns its metadata.
func (s *Store) extractInto(ctx context.Context, src layerSource, pc *pullContext, dir string) (*layerMeta, error) {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	rc, err := src.Open()
	if err != nil {
		return nil, &downloadError{fmt.Errorf("fetch: %w", err)}
	}
	defer rc.Close()
	raw := &hashReader{r: rc, h: sha256.New(), onRead: pc.addBytes}
	un, codec, closeDec, err := decompress(raw)
	if err != nil {
		return nil, s.classify(ctx, src, raw, err)
	}
	defer closeDec()
	diff := &hashReader{r: un, h: sha256.New()}
	_, xerr := extractLayer(ctx, diff, dir, s.extractOpts(pc.imageName(), layerName(src)))
	if xerr == nil {
		// Hash what the extractor left (tar padding after the end marker).
		_, xerr = io.Copy(io.Discard, diff)
	}
	if xerr != nil {
		return nil, s.classify(ctx, src, raw, xerr)
	}
	if err := s.checkRaw(src, raw); err != nil {
		return nil, err
	}
	if got := diff.sum(); got != src.DiffID {
		return nil, &DigestError{What: "layer diffID", Want: src.DiffID, Got: got}
	}
	return &layerMeta{DiffID: src.DiffID, Digest: src.Digest, MediaType: src.MediaType, Codec: codec, Size: diff.n, Created: time.Now().UTC()}, nil
}

// classify decides whether a failed extraction was the download's fault: it
// reads the rest of the blob and checks its digest. A blob that is whole and
// correct but does not extract is bad content, not worth fetching again.
func (s *Store) classify(ctx context.Context, src layerSource, raw *hashReader, err error) error {
	if ctx.Err() != nil {
		return err
	}
	if _, derr := io.Copy(io.Discard, raw); derr != nil && raw.err == nil {
		raw.err = derr
	}
	if cerr := s.checkRaw(src, raw); cerr != nil {
		return cerr // the download is at fault; err was its symptom
	}
	return err
}

// checkRaw checks the blob's size and digest, when the source knows them.
func (s *Store) checkRaw(src layerSource, raw *hashReader) error {
	if src.Digest.Hex != "" && (src.Size < 0 || raw.n == src.Size) {
		if got := raw.sum(); got != src.Digest {
			return &downloadError{&DigestError{What: "layer", Want: src.Digest, Got: got}}
		}
	}
	if raw.err != nil {
		return &downloadError{raw.err}
	}
	if src.Size >= 0 && raw.n != src.Size {
		return &downloadError{fmt.Errorf("got %d bytes, want %d", raw.n, src.Size)}
	}
	return nil
}

// commitEntry makes a finished tmp/ entry durable and renames it to final. If
// another process committed the same entry first, its copy wins.
func (s *Store) commitEntry(entry, final string) error {
	if err := syncFS(entry); err != nil {
		return err
	}
	if err := os.Rename(entry, final); err != nil {
		if _, serr := os.Stat(filepath.Join(final, entryMeta)); serr == nil {
			return nil
		}
		return fmt.Errorf("commit %s: %w", final, err)
	}
	return syncDir(filepath.Dir(final))
}

// hashReader hashes and counts what is read through it and keeps the first
// read error other than EOF.
type hashReader struct {
	r      io.Reader
	h      hash.Hash
	n      int64
	err    error
	onRead func(int64)
}

func (h *hashReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if n > 0 {
		h.h.Write(p[:n])
		h.n += int64(n)
		if h.onRead != nil {
			h.onRead(int64(n))
		}
	}
	if err != nil && err != io.EOF && h.err == nil {
		h.err = err
	}
	return n, err
}

func (h *hashReader) sum() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.h.Sum(nil))}
}
