package pipetest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/internal/testimage"
)

// SharedStore is one store per test binary holding the busybox image under
// Ref, made on first use: building and importing the image takes seconds
// under the race detector, so a package's tests share it (and keep apart
// by what their steps differ in). Call Remove from TestMain.
type SharedStore struct {
	Ref string // the busybox image's name in the store

	once  sync.Once
	dir   string
	store *cache.Store
	err   error
}

// Get returns the store, failing t when it cannot be made.
func (s *SharedStore) Get(t testing.TB) *cache.Store {
	t.Helper()
	s.once.Do(func() {
		if s.dir, s.err = os.MkdirTemp("", "pipe-test-store-"); s.err != nil {
			return
		}
		if s.store, s.err = cache.Open(filepath.Join(s.dir, "store")); s.err != nil {
			return
		}
		s.err = ImportBusybox(s.store, s.dir, s.Ref)
	})
	if s.err != nil {
		t.Fatal(s.err)
	}
	return s.store
}

// Remove deletes the store, if it was made.
func (s *SharedStore) Remove() {
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// ImportBusybox imports internal/testimage's busybox into store as ref,
// through a tarball written in dir.
func ImportBusybox(store *cache.Store, dir, ref string) error {
	img, err := testimage.Busybox()
	if err != nil {
		return err
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	path := filepath.Join(dir, "busybox.tar")
	if err := tarball.WriteToFile(path, tag, img); err != nil {
		return err
	}
	_, err = store.Import(context.Background(), path, ref)
	return err
}
