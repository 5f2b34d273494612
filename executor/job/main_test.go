package job

import (
	"os"
	"testing"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/internal/pipetest"
	"github.com/pipe-run/pipe/isolation"
)

func TestMain(m *testing.M) {
	// Tests that start real containers re-execute this binary as their init,
	// and as a job's keeper.
	isolation.MaybeInit()
	MaybeKeeper(nil)
	code := m.Run()
	shared.Remove()
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

// shared is a store with testImage, shared by the package's tests.
var shared = pipetest.SharedStore{Ref: testImage}

func sharedStore(t testing.TB) *cache.Store { return shared.Get(t) }
