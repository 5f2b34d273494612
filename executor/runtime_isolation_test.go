package executor

import (
	"path/filepath"
	"testing"

	"github.com/pipe-run/pipe/internal/testimage"
	"github.com/pipe-run/pipe/isolation"
)

// newRealRuntime returns isolation's runtime with its state in a temp dir.
func newRealRuntime(t testing.TB) Runtime {
	t.Helper()
	needsRoot(t)
	if err := isolation.Available(); err != nil {
		t.Fatalf("PIPE_TEST_ROOT=1 but containers cannot run: %v", err)
	}
	dir := t.TempDir()
	// As pipe run does: each container from an init started ahead of it.
	rt, err := isolation.New(isolation.Options{StateDir: filepath.Join(dir, "state"), CgroupParent: "pipe-test-executor", Prestart: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return NewIsolationRuntime(rt)
}

func TestConformanceIsolation(t *testing.T) {
	rt := newRealRuntime(t)
	runConformance(t, runtimeUnderTest{rt: rt, rootfs: []string{testimage.Rootfs(t)}})
}
