package cache

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ownerToken names a process for as long as it lives: its pid and its start
// time, so a recycled pid is not mistaken for the original owner.
func ownerToken(pid int) (string, error) {
	start, err := procStart(pid)
	if err != nil {
		return "", err
	}
	return strconv.Itoa(pid) + "-" + start, nil
}

// ownerAlive reports whether the process named by the first two dash-separated
// fields of name is still running.
func ownerAlive(name string) bool {
	parts := strings.SplitN(name, "-", 3)
	if len(parts) < 2 {
		return false
	}
	pid, err := strconv.Atoi(parts[0])
	if err != nil || pid <= 0 {
		return false
	}
	tok, err := ownerToken(pid)
	return err == nil && tok == parts[0]+"-"+parts[1]
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newTempEntry creates an empty directory in tmp/ owned by this process.
func (s *Store) newTempEntry(kind string) (string, error) {
	name := s.owner + "-" + randomSuffix()
	if kind != "" {
		name += "-" + kind
	}
	dir := s.path(tmpDir, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", fmt.Errorf("create staging dir: %w", err)
	}
	return dir, nil
}

// NewStaging returns a fresh empty directory on the store's filesystem, e.g.
// a step's workspace upper dir. CommitResult renames it into place; anything
// not committed is removed by the caller or, once this process is gone, by
// the next Open. kind is a short label for people reading tmp/.
func (s *Store) NewStaging(kind string) (string, error) {
	if kind != "" {
		if err := checkName("staging kind", kind); err != nil {
			return "", err
		}
	}
	entry, err := s.newTempEntry(kind)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(entry, entryFS)
	if err := os.Mkdir(dir, 0o755); err != nil {
		os.RemoveAll(entry)
		return "", fmt.Errorf("create staging dir: %w", err)
	}
	return dir, nil
}

// NewScratch returns a fresh empty directory on the store's filesystem that
// is never committed, e.g. an overlay's work dir: a tmp/ entry itself, one
// mkdir where NewStaging makes two. RemoveStaging removes it; anything not
// removed is removed, once this process is gone, by the next Open.
func (s *Store) NewScratch(kind string) (string, error) {
	if kind != "" {
		if err := checkName("scratch kind", kind); err != nil {
			return "", err
		}
	}
	return s.newTempEntry(kind)
}

// RemoveStaging removes a dir that NewStaging returned (whatever is in it)
// together with its tmp/ entry, or one NewScratch returned, so that nothing
// is left in tmp/ until the next Open. Any other path is left alone: it is
// not the store's to remove.
func (s *Store) RemoveStaging(dir string) error {
	entry := stagingEntry(s, dir)
	if entry == dir && !s.ownEntry(dir) {
		return fmt.Errorf("remove staging dir %s: not a staging dir of this process in store %s", dir, s.root)
	}
	return os.RemoveAll(entry)
}

// ownEntry says whether dir is a tmp/ entry of this process.
func (s *Store) ownEntry(dir string) bool {
	dir = filepath.Clean(dir)
	return filepath.Dir(dir) == s.TempDir() && strings.HasPrefix(filepath.Base(dir), s.owner+"-")
}

// cleanTmp removes tmp/ entries whose owner is gone.
func (s *Store) cleanTmp() error {
	ents, err := os.ReadDir(s.path(tmpDir))
	if err != nil {
		return err
	}
	for _, e := range ents {
		if ownerAlive(e.Name()) {
			continue
		}
		if err := removeTree(s.path(tmpDir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// discard removes an entry of the store: it first renames it into tmp/ so
// that a crash half way through never leaves a partial entry in place.
func (s *Store) discard(path string) error {
	trash := s.path(tmpDir, s.owner+"-"+randomSuffix()+"-trash")
	if err := os.Rename(path, trash); err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("discard %s: %w", path, err)
	}
	return removeTree(trash)
}

// removeTree removes dir, first making read-only subdirectories writable.
func removeTree(dir string) error {
	if err := os.RemoveAll(dir); err == nil {
		return nil
	}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}
