package podagent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pipe-run/pipe/cache"
)

// fetcher reads layer blobs of one repository.
type fetcher struct {
	repo name.Repository
	opts []remote.Option
}

func newFetcher(ctx context.Context, sp Spec) (*fetcher, error) {
	repo, err := sp.repository()
	if err != nil {
		return nil, err
	}
	opts, err := remoteOptions(ctx, sp.Insecure)
	if err != nil {
		return nil, err
	}
	return &fetcher{repo: repo, opts: opts}, nil
}

// ErrDigestMismatch is a blob whose bytes are not those its digest names.
var ErrDigestMismatch = errors.New("digest mismatch")

// apply streams the layer l from the registry onto dir: the blob is hashed
// and counted as it is read, decompressed, hashed again and applied; once
// the stream has ended, both hashes and the size must be those of l.
func (f *fetcher) apply(ctx context.Context, l Layer, dir string) error {
	digest, _ := parseSHA256(l.Digest) // checked by ParseSpec
	diffID, _ := parseSHA256(l.DiffID)
	rl, err := remote.Layer(f.repo.Digest(l.Digest), f.opts...)
	if err != nil {
		return fmt.Errorf("look the blob up: %w", err)
	}
	rc, err := rl.Compressed()
	if err != nil {
		return fmt.Errorf("fetch the blob: %w", err)
	}
	defer rc.Close()
	blob := &checkedReader{r: rc, h: sha256.New(), limit: l.Size}
	tr, err := cache.DecompressLayer(blob)
	if err != nil {
		return blob.explain(fmt.Errorf("decompress: %w", err))
	}
	defer tr.Close()
	tarSum := &checkedReader{r: tr, h: sha256.New(), limit: -1}
	if err := cache.ApplyLayer(ctx, tarSum, dir); err != nil {
		return blob.explain(err)
	}
	if err := drain(tarSum, blob); err != nil {
		return blob.explain(err)
	}
	return verify(blob, tarSum, l, digest, diffID)
}

// drain reads what the tar reader left of both streams (the tar's padding),
// so that the hashes cover every byte.
func drain(tarSum, blob io.Reader) error {
	if _, err := io.Copy(io.Discard, tarSum); err != nil {
		return fmt.Errorf("read the end of the layer: %w", err)
	}
	if _, err := io.Copy(io.Discard, blob); err != nil {
		return fmt.Errorf("read the end of the blob: %w", err)
	}
	return nil
}

// verify compares what was read with what the spec says.
func verify(blob, tarSum *checkedReader, l Layer, digest, diffID v1.Hash) error {
	if l.Size > 0 && blob.n != l.Size {
		return fmt.Errorf("%w: the registry sent %d bytes, the layer has %d", ErrDigestMismatch, blob.n, l.Size)
	}
	if got := blob.sum(); got != digest {
		return fmt.Errorf("%w: the registry's blob hashes to %s; refusing it (the cache repository is damaged or tampered with)", ErrDigestMismatch, got)
	}
	if got := tarSum.sum(); got != diffID {
		return fmt.Errorf("%w: the layer's tar hashes to %s, its diffID is %s; refusing it", ErrDigestMismatch, got, diffID)
	}
	return nil
}

// checkedReader hashes and counts what is read through it; more than limit
// bytes (limit > 0) is an error.
type checkedReader struct {
	r     io.Reader
	h     hash.Hash
	n     int64
	limit int64
	over  bool
}

// errTooLarge is a blob longer than the layer's size.
var errTooLarge = errors.New("the blob is larger than the layer's size")

func (c *checkedReader) Read(p []byte) (int, error) {
	if c.limit > 0 && c.n+int64(len(p)) > c.limit+1 {
		p = p[:c.limit+1-c.n]
	}
	n, err := c.r.Read(p)
	c.h.Write(p[:n])
	c.n += int64(n)
	if c.limit > 0 && c.n > c.limit {
		c.over = true
		return n, fmt.Errorf("%w: %w (%d bytes)", ErrDigestMismatch, errTooLarge, c.limit)
	}
	return n, err
}

func (c *checkedReader) sum() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(c.h.Sum(nil))}
}

// explain turns an error met while the blob was being read into what the
// user needs to know: a blob that did not match its digest is refused.
func (c *checkedReader) explain(err error) error {
	if c.over || errors.Is(err, ErrDigestMismatch) {
		return err
	}
	if isVerifyError(err) {
		return fmt.Errorf("%w: the registry's bytes do not match the layer's digest; refusing it: %w", ErrDigestMismatch, err)
	}
	return err
}

// isVerifyError recognises go-containerregistry's verification of a blob's
// digest and size, which fails the read at the blob's end.
func isVerifyError(err error) bool {
	return err != nil && strings.Contains(err.Error(), "error verifying")
}
