package job

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
	"github.com/pipe-run/pipe/isolation"
)

func TestMain(m *testing.M) {
	// Tests that start real containers re-execute this binary as their init,
	// and as a job's keeper.
	isolation.MaybeInit()
	MaybeKeeper()
	code := m.Run()
	if storeDir != "" {
		os.RemoveAll(storeDir)
	}
	os.Exit(code)
}

// needsRoot skips a test that starts real containers unless PIPE_TEST_ROOT=1;
// with it set, such a test must run (and fails when it cannot).
func needsRoot(t testing.TB) {
	t.Helper()
	if os.Getenv("PIPE_TEST_ROOT") != "1" {
		t.Skip("needs root: set PIPE_TEST_ROOT=1")
	}
}

// testImage is the busybox image every test store holds.
const testImage = "pipe.test/busybox:1"

var (
	storeOnce sync.Once
	storeDir  string
	store     *cache.Store
	storeErr  error
)

// sharedStore is a store with testImage, shared by the package's tests.
func sharedStore(t testing.TB) *cache.Store {
	t.Helper()
	storeOnce.Do(func() {
		if storeDir, storeErr = os.MkdirTemp("", "pipe-job-test-"); storeErr != nil {
			return
		}
		if store, storeErr = cache.Open(filepath.Join(storeDir, "store")); storeErr != nil {
			return
		}
		img, err := testimage.Busybox()
		if err != nil {
			storeErr = err
			return
		}
		tag, err := name.NewTag(testImage)
		if err != nil {
			storeErr = err
			return
		}
		path := filepath.Join(storeDir, "busybox.tar")
		if storeErr = tarball.WriteToFile(path, tag, img); storeErr != nil {
			return
		}
		_, storeErr = store.Import(context.Background(), path, testImage)
	})
	if storeErr != nil {
		t.Fatal(storeErr)
	}
	return store
}
