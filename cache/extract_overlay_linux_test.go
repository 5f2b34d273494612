//go:build linux

package cache

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestExtractOverlayMount mounts a real overlay of two extracted layers and
// checks that the overlay form works: a file whited out in the upper layer
// is gone, an opaque dir hides the lower content, the rest shows through.
// Done both in the root form (trusted.overlay.*) and in the unprivileged
// form (user.overlay.*, mounted with userxattr).
func TestExtractOverlayMount(t *testing.T) {
	extNeedsRoot(t)
	lowerTar := extTar(t,
		extDir("a/"), extReg("a/keep", "k"), extReg("a/gone", "g"),
		extDir("d/"), extReg("d/old", "o"), extDir("d/sub/"), extReg("d/sub/deep", "x"),
		extDir("e/"), extReg("e/gonedir/f", "f"),
	)
	upperTar := extTar(t,
		extDir("a/"), extReg("a/.wh.gone", ""), extReg("a/added", "n"),
		extDir("d/"), extReg("d/.wh..wh..opq", ""), extReg("d/new", "n"),
		extReg("e/.wh.gonedir", ""),
	)
	for _, root := range []bool{true, false} {
		name := map[bool]string{true: "trusted", false: "userxattr"}[root]
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			lower, upper, mnt := filepath.Join(base, "lower"), filepath.Join(base, "upper"), filepath.Join(base, "mnt")
			for d, b := range map[string][]byte{lower: lowerTar, upper: upperTar} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
				if _, err := extractLayer(t.Context(), bytes.NewReader(b), d, extractOptions{Root: root}); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Mkdir(mnt, 0o755); err != nil {
				t.Fatal(err)
			}
			opts := "lowerdir=" + upper + ":" + lower
			if !root {
				opts += ",userxattr"
			}
			if err := unix.Mount("overlay", mnt, "overlay", unix.MS_RDONLY, opts); err != nil {
				t.Fatalf("mount overlay %s: %v", opts, err)
			}
			t.Cleanup(func() {
				if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil {
					t.Errorf("unmount %s: %v", mnt, err)
				}
			})
			want := []string{"a/", "a/added", "a/keep", "d/", "d/new", "e/"}
			if got := extTree(t, mnt); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Errorf("overlay shows %v, want %v", got, want)
			}
		})
	}
}

// extTree lists every path under dir (dirs with a trailing slash), sorted.
func extTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if d.IsDir() {
			rel += "/"
		}
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// TestExtractOverlayXwhiteout: the whiteout form an unprivileged extraction
// falls back to (an xwhiteout file, Linux 6.7+) hides the lower file in an
// overlay mounted with userxattr.
func TestExtractOverlayXwhiteout(t *testing.T) {
	extNeedsRoot(t)
	if rel, ok := kernelBefore(6, 7); ok {
		// The VM matrix runs Linux 6.1: overlayfs there knows no xwhiteout.
		t.Skipf("kernel %s: overlayfs honours xwhiteouts from Linux 6.7 on", rel)
	}
	base := t.TempDir()
	lower, upper, mnt := filepath.Join(base, "lower"), filepath.Join(base, "upper"), filepath.Join(base, "mnt")
	for _, d := range []string{lower + "/a", upper + "/a", mnt} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"a/gone", "a/keep"} {
		if err := os.WriteFile(filepath.Join(lower, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := unix.Open(filepath.Join(upper, "a"), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	err = xwhiteout(fd, "gone")
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("overlay", mnt, "overlay", unix.MS_RDONLY, "userxattr,lowerdir="+upper+":"+lower); err != nil {
		t.Fatalf("mount overlay: %v", err)
	}
	defer unix.Unmount(mnt, unix.MNT_DETACH)
	var uts unix.Utsname
	unix.Uname(&uts)
	if got := extTree(t, mnt); strings.Join(got, " ") != "a/ a/keep" {
		t.Errorf("overlay shows %v, want [a/ a/keep] (kernel %s: xwhiteouts need Linux 6.7+)", got, unix.ByteSliceToString(uts.Release[:]))
	}
}

// kernelBefore says whether the running kernel is older than major.minor,
// with its release.
func kernelBefore(major, minor int) (string, bool) {
	var uts unix.Utsname
	if unix.Uname(&uts) != nil {
		return "", false
	}
	rel := unix.ByteSliceToString(uts.Release[:])
	var maj, min int
	if _, err := fmt.Sscanf(rel, "%d.%d", &maj, &min); err != nil {
		return rel, false
	}
	return rel, maj < major || (maj == major && min < minor)
}

// Before Linux 6.7 overlayfs ignores xwhiteouts, so the extractor must refuse
// to fall back to one there rather than let a deleted file come back.
func TestXwhiteoutHonoured(t *testing.T) {
	for release, ok := range map[string]bool{
		"6.1.0-28-cloud-amd64": false,
		"5.15.0-91-generic":    false,
		"6.6.30":               false,
		"6.7.0":                true,
		"6.18.44":              true,
		"7.0":                  true,
		"not-a-version":        true,
	} {
		err := xwhiteoutHonoured(release)
		if (err == nil) != ok {
			t.Errorf("%s: err = %v, want ok %v", release, err, ok)
		}
		if err != nil && !strings.Contains(err.Error(), "PIPE_HOME") {
			t.Errorf("%s: the error says not what to do: %v", release, err)
		}
	}
}
