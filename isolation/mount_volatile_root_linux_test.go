package isolation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVolatileOverlay checks that Overlay.Volatile mounts the overlay with
// overlayfs's volatile option and that what the container wrote is in the
// upper dir after it ends, as without the option.
func TestVolatileOverlay(t *testing.T) {
	r := newTestRuntime(t)
	base := t.TempDir()
	lower, upper, work := filepath.Join(base, "lower"), filepath.Join(base, "upper"), filepath.Join(base, "work")
	for _, d := range []string{lower, upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := busybox(t, "/bin/sh", "-c", "grep ' /ws ' /proc/self/mountinfo; echo data > /ws/new; sync /ws/new")
	s.Mounts = []Mount{{Type: MountOverlay, Target: "/ws",
		Overlay: Overlay{Lower: []string{lower}, Upper: upper, Work: work, Volatile: true}}}
	res, out := run(t, r, s)
	if res.ExitCode != 0 {
		t.Fatalf("exit %d: %s", res.ExitCode, out)
	}
	if !strings.Contains(out, "volatile") {
		t.Errorf("the overlay is not volatile: %s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(upper, "new")); string(b) != "data\n" {
		t.Errorf("overlay upper: %q", b)
	}
}
