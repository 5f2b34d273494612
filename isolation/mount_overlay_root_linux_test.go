package isolation

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipe-run/pipe/internal/testimage"
)

// A root of many layers, whose lower dirs make an option string far over
// the 255 bytes fsconfig takes per value, mounts on every kernel: with
// lowerdir+ on 6.8+, with one lowerdir string through mount(2) before
// (the VM matrix runs 6.1).
func TestManyLayers(t *testing.T) {
	r := newTestRuntime(t)
	base := t.TempDir()
	lower := []string{testimage.Rootfs(t)}
	for i := 0; i < 24; i++ {
		dir := filepath.Join(base, fmt.Sprintf("layers/sha256/%064d/fs", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("layer-%02d", i)), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		lower = append(lower, dir)
	}
	s := busybox(t, "/bin/sh", "-c", "ls / | grep -c '^layer-'")
	s.Root.Lower = lower
	res, out := run(t, r, s)
	if res.ExitCode != 0 || strings.TrimSpace(out) != "24" {
		t.Errorf("exit %d, %q files from the layers; want all 24", res.ExitCode, out)
	}
}
