package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DigestError says content did not match the digest it was fetched by: the
// entry is thrown away, never kept.
type DigestError struct {
	What      string // "blob", "layer", "layer diffID"
	Want, Got v1.Hash
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("%s %s: content has digest %s: corrupt or tampered download, discarded", e.What, e.Want, e.Got)
}

func sha256Hash(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// hasBlob reports whether the blob is in the store.
func (s *Store) hasBlob(h v1.Hash) bool {
	if checkDigest(h) != nil {
		return false
	}
	_, err := os.Stat(s.blobPath(h))
	return err == nil
}

// writeBlob keeps b as blob h after checking its digest.
func (s *Store) writeBlob(h v1.Hash, b []byte) error {
	if err := checkDigest(h); err != nil {
		return err
	}
	if got := sha256Hash(b); got != h {
		return &DigestError{What: "blob", Want: h, Got: got}
	}
	if s.hasBlob(h) {
		return nil
	}
	return s.writeFileAtomic(s.blobPath(h), b)
}

// readBlob reads blob h and checks its digest. A blob that fails the check
// is removed and a *DigestError returned, so that it is fetched again.
func (s *Store) readBlob(h v1.Hash) ([]byte, error) {
	if err := checkDigest(h); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.blobPath(h))
	if err != nil {
		return nil, err
	}
	if got := sha256Hash(b); got != h {
		_ = os.Remove(s.blobPath(h))
		return nil, &DigestError{What: "stored blob", Want: h, Got: got}
	}
	return b, nil
}

// writeFileAtomic writes b to path through a synced file in tmp/ renamed into
// place, then syncs path's directory: readers see the old file or the whole
// new one, and after a crash the whole new one.
func (s *Store) writeFileAtomic(path string, b []byte) error {
	if err := s.replaceFile(path, b, true); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// replaceFile writes b to path through a file in tmp/ renamed into place
// (synced first when durable): readers see the old file or the whole new
// one. Without durable, a crash may leave the old one, or none.
func (s *Store) replaceFile(path string, b []byte, durable bool) error {
	f, err := os.CreateTemp(s.path(tmpDir), s.owner+"-*-file")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	_, werr := f.Write(b)
	var serr error
	if durable {
		serr = f.Sync()
	}
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// syncDir fsyncs a directory so a rename into it is durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// isNotExist reports a missing file, also through wrapping.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
