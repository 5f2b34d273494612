package isolation

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// Overlays are mounted with the newest way the kernel knows, falling back
// to older ones. Lower dirs are added one by one (lowerdir+, Linux 6.8) so
// that no option string limits their number. Before 6.5 overlayfs parses
// options the legacy way: fsconfig accepts any key and only the final
// FSCONFIG_CMD_CREATE fails, with a bare EINVAL (the kernel log says
// `unrecognized mount option "lowerdir+=..."`), so the error text cannot
// tell the cause and every EINVAL of the newer form is retried in the older
// one. "volatile" (Linux 5.10) is dropped last, when nothing else worked.

// legacyOptionsMax is how many bytes of options a kernel that parses
// overlay options the legacy way accepts (a page, less the separators).
const legacyOptionsMax = 4096 - 2

// overlayMount returns a detached overlay of o with MOUNT_ATTR_* attrs.
// extra are options for every form: userxattr when rootless (overlayOpts).
func overlayMount(o Overlay, attrs int, extra ...mountOpt) (int, error) {
	return overlayMountWith(o, func(opts []mountOpt) (int, error) {
		return newMount("overlay", "overlay", attrs, withExtraOpts(opts, extra)...)
	})
}

// withExtraOpts appends extra to opts. With userxattr the kernel refuses
// redirect_dir and metacopy (it needs trusted.* for them) and turns both off
// itself (redirect_dir=nofollow: none made, none followed): they are dropped.
func withExtraOpts(opts, extra []mountOpt) []mountOpt {
	if len(extra) == 0 {
		return opts
	}
	out := opts[:0:0]
	for _, o := range opts {
		if o.key != "redirect_dir" && o.key != "metacopy" {
			out = append(out, o)
		}
	}
	return append(out, extra...)
}

// overlayMountWith tries the option sets of overlayAttempts in order with
// mount, and returns the first that works or the error of the last tried.
func overlayMountWith(o Overlay, mount func([]mountOpt) (int, error)) (int, error) {
	var err error
	for _, opts := range overlayAttempts(o) {
		if opts == nil { // the legacy string is too long for the kernel
			return -1, fmt.Errorf("overlay of %d layers: kernels before Linux 6.8 take at most %d bytes of overlay options "+
				"and these need more (use fewer or shallower layers, or Linux 6.8+, whose lowerdir+ takes any number): %w",
				len(o.Lower), legacyOptionsMax, err)
		}
		var fd int
		fd, err = mount(opts)
		if err == nil || !errors.Is(err, unix.EINVAL) {
			return fd, err
		}
	}
	return -1, err
}

// overlayAttempts lists the option sets to try, newest first: lowerdir+,
// then one lowerdir string, then (for a volatile overlay) without volatile.
// A nil set stands for a legacy string over legacyOptionsMax.
func overlayAttempts(o Overlay) [][]mountOpt {
	attempts := [][]mountOpt{plusOverlayOpts(o), legacyOverlayOpts(o)}
	if o.Volatile {
		o.Volatile = false // before Linux 5.10: a plain overlay does the same, slower
		attempts = append(attempts, legacyOverlayOpts(o))
	}
	return attempts
}

// plusOverlayOpts is the overlay with one lowerdir+ option per layer.
func plusOverlayOpts(o Overlay) []mountOpt {
	opts := make([]mountOpt, 0, len(o.Lower)+5)
	for i := len(o.Lower) - 1; i >= 0; i-- { // overlayfs lists the top layer first
		opts = append(opts, mountOpt{"lowerdir+", o.Lower[i]})
	}
	return append(opts, upperOpts(o)...)
}

// legacyOverlayOpts is the overlay as one lowerdir option, for kernels
// before 6.8; nil when the options exceed what such kernels accept.
func legacyOverlayOpts(o Overlay) []mountOpt {
	esc := strings.NewReplacer(`\`, `\\`, `:`, `\:`, `,`, `\,`)
	lower := make([]string, 0, len(o.Lower))
	for i := len(o.Lower) - 1; i >= 0; i-- {
		lower = append(lower, esc.Replace(o.Lower[i]))
	}
	opts := append([]mountOpt{{"lowerdir", strings.Join(lower, ":")}}, upperOpts(o)...)
	size := len("source=overlay")
	for _, opt := range opts {
		size += 1 + len(opt.key) + 1 + len(opt.value)
	}
	if size > legacyOptionsMax {
		return nil
	}
	return opts
}

// upperOpts are the options of a writable overlay. An upper dir may become a
// layer (a step's output, a kept failure) that later serves as a lower dir of
// other overlays, so it must be self-contained: no redirects to lower paths
// and no metadata-only copy-ups, whatever the kernel's defaults are.
func upperOpts(o Overlay) []mountOpt {
	if o.Upper == "" {
		return nil
	}
	opts := []mountOpt{{"upperdir", o.Upper}, {"workdir", o.Work}, {"redirect_dir", "off"}, {"metacopy", "off"}}
	if o.Volatile {
		opts = append(opts, mountOpt{"volatile", ""})
	}
	return opts
}
