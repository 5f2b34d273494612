package cache

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// blobFile is a compressed layer blob in a tmp/ entry whose digests and size
// are known before it is pushed, so the push can skip a blob the registry
// has (HEAD) and upload the others in one PUT. It is a v1.Layer.
type blobFile struct {
	path   string
	digest v1.Hash // of the compressed bytes
	diffID v1.Hash // of the uncompressed tar
	size   int64
	mt     types.MediaType                   // "" is OCI zstd
	wrap   func(io.ReadCloser) io.ReadCloser // the idle watchdog of the push, if any
	sent   *atomic.Int64                     // if set, counts the bytes uploaded
}

var _ v1.Layer = (*blobFile)(nil)

// Digest is the compressed blob's digest.
func (b *blobFile) Digest() (v1.Hash, error) { return b.digest, nil }

// DiffID is the uncompressed tar's digest.
func (b *blobFile) DiffID() (v1.Hash, error) { return b.diffID, nil }

// Size is the compressed size.
func (b *blobFile) Size() (int64, error) { return b.size, nil }

// MediaType is an OCI zstd layer unless the blob says otherwise.
func (b *blobFile) MediaType() (types.MediaType, error) {
	if b.mt != "" {
		return b.mt, nil
	}
	return types.OCILayerZStd, nil
}

// Compressed opens the blob.
func (b *blobFile) Compressed() (io.ReadCloser, error) {
	f, err := os.Open(b.path)
	if err != nil {
		return nil, err
	}
	var rc io.ReadCloser = f
	if b.sent != nil {
		rc = &countReader{rc, b.sent}
	}
	if b.wrap != nil {
		rc = b.wrap(rc)
	}
	return rc, nil
}

// countReader counts the bytes read through it.
type countReader struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// Uncompressed opens the blob and decompresses it.
func (b *blobFile) Uncompressed() (io.ReadCloser, error) {
	f, err := os.Open(b.path)
	if err != nil {
		return nil, err
	}
	var zr io.ReadCloser
	if b.mt == types.OCILayer {
		zr, err = gzip.NewReader(f)
	} else {
		var d *zstd.Decoder
		if d, err = zstd.NewReader(f); err == nil {
			zr = d.IOReadCloser()
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return fileReader{zr, f}, nil
}

// fileReader is a decompressing reader of the file f; Close closes both.
type fileReader struct {
	io.ReadCloser
	f *os.File
}

func (r fileReader) Close() error { r.ReadCloser.Close(); return r.f.Close() }

// compressTar writes the tar stream r as a zstd blob into dir/name, hashing
// the tar and the blob on the way.
func compressTar(r io.Reader, dir, name string) (*blobFile, error) {
	return compressTarJobs(r, dir, name, 2)
}

// compressTarJobs is compressTar with jobs encoder goroutines; 1 makes the
// blob reproducible across machines (volume buckets rely on it).
func compressTarJobs(r io.Reader, dir, name string, jobs int) (*blobFile, error) {
	p := filepath.Join(dir, name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zh := &hashWriter{w: f, h: sha256.New()}
	zw, err := zstd.NewWriter(zh, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(jobs))
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
	return &blobFile{path: p, digest: zh.sum(), diffID: th.sum(), size: zh.n}, nil
}

// hashWriter hashes and counts what is written through it.
type hashWriter struct {
	w io.Writer
	h hash.Hash
	n int64
}

func (h *hashWriter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	return n, err
}

func (h *hashWriter) sum() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.h.Sum(nil))}
}

// errStalled says a transfer made no progress for the Remote's timeout.
var errStalled = errors.New("transfer stalled: no bytes moved")

// watchdog cancels a transfer whose bytes stop moving for idle, whatever
// its total length: a big layer may take minutes, a silent registry may not.
type watchdog struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	idle   time.Duration

	mu    sync.Mutex
	timer *time.Timer
}

func newWatchdog(ctx context.Context, idle time.Duration) *watchdog {
	w := &watchdog{idle: idle}
	w.ctx, w.cancel = context.WithCancelCause(ctx)
	w.timer = time.AfterFunc(idle, func() { w.cancel(fmt.Errorf("%w for %s", errStalled, idle)) })
	return w
}

// kick notes progress.
func (w *watchdog) kick() {
	w.mu.Lock()
	w.timer.Reset(w.idle)
	w.mu.Unlock()
}

// stop releases the watchdog; the context is canceled.
func (w *watchdog) stop() {
	w.timer.Stop()
	w.cancel(context.Canceled)
}

// err is why the watchdog's context ended, when it was the watchdog.
func (w *watchdog) err(err error) error {
	if cause := context.Cause(w.ctx); cause != nil && errors.Is(cause, errStalled) {
		return cause
	}
	return err
}

// reader kicks the watchdog on every read of rc.
func (w *watchdog) reader(rc io.ReadCloser) io.ReadCloser {
	return &kickReader{rc: rc, w: w}
}

type kickReader struct {
	rc io.ReadCloser
	w  *watchdog
}

func (k *kickReader) Read(p []byte) (int, error) {
	n, err := k.rc.Read(p)
	if n > 0 {
		k.w.kick()
	}
	return n, err
}

func (k *kickReader) Close() error { return k.rc.Close() }
