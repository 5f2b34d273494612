package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// ErrNotFound says an entry (result, image) is not in the store.
var ErrNotFound = errors.New("not found in the store")

// Result is a committed step result.
type Result struct {
	Key  string
	Dir  string // the output layer in overlay form; read-only: never modify it
	Meta ResultMeta
}

// ResultMeta describes a step result.
type ResultMeta struct {
	Step    string    `json:"step"`
	RunID   string    `json:"runID"`
	Created time.Time `json:"created"`
	Size    int64     `json:"size"`  // bytes of regular files
	Files   int       `json:"files"` // entries of any kind
}

// Result returns the committed result for key; errors.Is(err, ErrNotFound)
// on a miss. A hit marks the result as used now, for Prune's --older-than.
func (s *Store) Result(key string) (*Result, error) {
	if err := checkName("result key", key); err != nil {
		return nil, err
	}
	p := filepath.Join(s.resultPath(key), entryMeta)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("result %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("result %s: %w", key, err)
	}
	var m ResultMeta
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("result %s: %s: %w (run pipe cache prune --all to reset)", key, p, err)
	}
	now := time.Now()
	_ = os.Chtimes(p, now, now)
	return &Result{Key: key, Dir: filepath.Join(s.resultPath(key), entryFS), Meta: m}, nil
}

// CommitResult makes dir (an output layer in overlay form, best made with
// NewStaging) the result for key, atomically. If a result for key exists
// already, it wins and dir is removed. Size and Files are counted when both
// are zero. dir is consumed in every case: renamed when it lies on the store's
// filesystem, else copied through an OCI layer tar and removed.
func (s *Store) CommitResult(key, dir string, m ResultMeta) (*Result, error) {
	r, err := s.commitResult(key, dir, m)
	if err != nil {
		return nil, fmt.Errorf("commit result %s: %w", key, err)
	}
	return r, nil
}

func (s *Store) commitResult(key, dir string, m ResultMeta) (*Result, error) {
	if err := checkName("result key", key); err != nil {
		return nil, err
	}
	gc, err := s.gcShared(context.Background())
	if err != nil {
		return nil, err
	}
	defer gc.Unlock()
	if r, err := s.Result(key); err == nil {
		removeTree(stagingEntry(s, dir))
		return r, nil
	}
	entry, err := s.adoptStaging(dir)
	if err != nil {
		return nil, err
	}
	defer removeTree(entry)
	if m.Created.IsZero() {
		m.Created = time.Now().UTC()
	}
	if m.Size == 0 && m.Files == 0 {
		m.Size, m.Files = treeSize(filepath.Join(entry, entryFS))
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(entry, entryMeta), b, 0o644); err != nil {
		return nil, err
	}
	if err := s.commitEntry(entry, s.resultPath(key)); err != nil {
		return nil, err
	}
	return s.Result(key)
}

// stagingEntry is the tmp/ entry holding dir when dir came from NewStaging,
// else dir itself.
func stagingEntry(s *Store, dir string) string {
	if parent := filepath.Dir(filepath.Clean(dir)); filepath.Base(dir) == entryFS && s.ownEntry(parent) {
		return parent
	}
	return dir
}

// adoptStaging returns a tmp/ entry whose fs/ is dir's tree: NewStaging's own
// entry, or a new one dir is renamed (or, across filesystems, copied) into.
func (s *Store) adoptStaging(dir string) (string, error) {
	if e := stagingEntry(s, dir); e != dir {
		return e, nil
	}
	entry, err := s.newTempEntry("result")
	if err != nil {
		return "", err
	}
	fsDir := filepath.Join(entry, entryFS)
	err = os.Rename(dir, fsDir)
	if err != nil && errors.Is(err, syscallEXDEV) {
		err = s.copyLayer(dir, fsDir)
	}
	if err != nil {
		removeTree(entry)
		return "", fmt.Errorf("move %s into the store: %w", dir, err)
	}
	return entry, nil
}

// copyLayer copies an overlay-form tree to another filesystem through an OCI
// layer tar and the safe extractor, then removes the source.
func (s *Store) copyLayer(src, dst string) error {
	if err := os.Mkdir(dst, 0o755); err != nil {
		return err
	}
	rc := s.LayerTar(src)
	defer rc.Close()
	if _, err := extractLayer(context.Background(), rc, dst, s.extractOpts("", src)); err != nil {
		return err
	}
	return removeTree(src)
}

// treeSize counts the bytes of regular files and the entries under dir.
func treeSize(dir string) (size int64, files int) {
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		files++
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				size += fi.Size()
			}
		}
		return nil
	})
	return size, files
}
