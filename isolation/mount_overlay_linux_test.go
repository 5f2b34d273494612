package isolation

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// kernelMount fakes how a kernel answers an overlay's options: plus says
// whether it knows lowerdir+ (6.8), volatile whether it knows volatile
// (5.10). Like Linux before 6.5, it fails only at create, with a bare EINVAL.
// The one-string form must come through mount(2) (legacy): fsconfig takes
// at most 255 bytes per value.
func kernelMount(plus, volatile bool, tried *[][]mountOpt) func([]mountOpt, bool) (int, error) {
	return func(opts []mountOpt, legacy bool) (int, error) {
		*tried = append(*tried, opts)
		for _, o := range opts {
			if o.key == "lowerdir" && !legacy {
				return -1, &os.PathError{Op: "fsconfig", Path: "lowerdir", Err: unix.EINVAL}
			}
			if (o.key == "lowerdir+" && !plus) || (o.key == "volatile" && !volatile) {
				return -1, &os.PathError{Op: "fsconfig create", Path: "overlay", Err: unix.EINVAL}
			}
		}
		return 42, nil
	}
}

func optKeys(opts []mountOpt) string {
	var keys []string
	for _, o := range opts {
		keys = append(keys, o.key)
	}
	return strings.Join(keys, ",")
}

func TestOverlayMountFallsBackOnOldKernels(t *testing.T) {
	o := Overlay{Lower: []string{"/l/a", "/l/b:c"}, Upper: "/u", Work: "/w", Volatile: true}
	for _, k := range []struct {
		name           string
		plus, volatile bool
		want           string // keys of the options that mounted
	}{
		{"6.8", true, true, "lowerdir+,lowerdir+,upperdir,workdir,redirect_dir,metacopy,volatile"},
		{"6.1", false, true, "lowerdir,upperdir,workdir,redirect_dir,metacopy,volatile"},
		{"5.4", false, false, "lowerdir,upperdir,workdir,redirect_dir,metacopy"},
	} {
		t.Run(k.name, func(t *testing.T) {
			var tried [][]mountOpt
			fd, err := overlayMountWith(o, kernelMount(k.plus, k.volatile, &tried))
			if err != nil || fd != 42 {
				t.Fatalf("got %d, %v; want the overlay mounted", fd, err)
			}
			if got := optKeys(tried[len(tried)-1]); got != k.want {
				t.Errorf("mounted with %s, want %s", got, k.want)
			}
		})
	}
	var tried [][]mountOpt
	overlayMountWith(o, kernelMount(false, true, &tried))
	if got := tried[len(tried)-1][0].value; got != `/l/b\:c:/l/a` {
		t.Errorf("legacy lowerdir %q, want the top layer first and ':' escaped", got)
	}
}

func TestOverlayMountKeepsOtherErrors(t *testing.T) {
	calls := 0
	_, err := overlayMountWith(Overlay{Lower: []string{"/l"}}, func([]mountOpt, bool) (int, error) {
		calls++
		return -1, &os.PathError{Op: "fsconfig create", Path: "overlay", Err: unix.ENOENT}
	})
	if !errors.Is(err, unix.ENOENT) || calls != 1 {
		t.Errorf("got %v after %d tries; want ENOENT from the first", err, calls)
	}
}

func TestOverlayMountTooManyLayersForOldKernels(t *testing.T) {
	var lower []string
	for i := 0; i < 45; i++ {
		lower = append(lower, fmt.Sprintf("/var/lib/pipe/layers/sha256/%064d/fs", i))
	}
	var tried [][]mountOpt
	_, err := overlayMountWith(Overlay{Lower: lower}, kernelMount(false, true, &tried))
	if err == nil || !strings.Contains(err.Error(), "45 layers") || !strings.Contains(err.Error(), "Linux 6.8") {
		t.Errorf("got %v; want an error naming the layer count and Linux 6.8", err)
	}
	if len(tried) != 1 {
		t.Errorf("tried %d option sets; want only lowerdir+", len(tried))
	}
}

func TestLegacyData(t *testing.T) {
	o := Overlay{Lower: []string{"/l/a,b", "/l/c"}, Upper: "/u,1", Work: "/w"}
	got := legacyData(withExtraOpts(legacyOverlayOpts(o), []mountOpt{{"userxattr", ""}}))
	want := `lowerdir=/l/c:/l/a\,b,upperdir=/u\,1,workdir=/w,userxattr`
	if got != want {
		t.Errorf("mount(2) data %q, want %q", got, want)
	}
}
