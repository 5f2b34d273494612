package executor

import (
	"os"
	"testing"

	"github.com/pipe-run/pipe/internal/testimage"
	"github.com/pipe-run/pipe/isolation"
)

func TestMain(m *testing.M) {
	// Tests that start real containers re-execute this binary as their init.
	isolation.MaybeInit()
	// Job tests re-execute it as a job's keeper.
	MaybeJobKeeper(nil)
	code := m.Run()
	removeSharedStore()
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

func TestConformanceFake(t *testing.T) {
	u := runtimeUnderTest{rt: newFakeRuntime(t.TempDir()), rootfs: []string{testimage.Rootfs(t)}, fake: true}
	runConformance(t, u)
}
