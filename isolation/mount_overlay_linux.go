package isolation

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
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
// one. That older form, all lower dirs in one lowerdir option, cannot go
// through fsconfig either: it takes at most 255 bytes per value. So it
// goes through mount(2), whose option string may fill a page, on a dir of
// the container's scratch in init's private mount namespace; a detached
// clone of that mount is what the caller attaches, as with fsmount.
// "volatile" (Linux 5.10) is dropped last, when nothing else worked.

// legacyOptionsMax is how many bytes of options mount(2) takes (a page,
// less its NUL).
const legacyOptionsMax = 4096 - 1

// overlayEnv is what every overlay of a container is mounted with.
type overlayEnv struct {
	extra []mountOpt // options for every form: userxattr when rootless
	tmp   string     // the mount point of legacyOverlayMount, made on first use
}

// overlayMount returns a detached overlay of o with MOUNT_ATTR_* attrs.
func overlayMount(o Overlay, attrs int, env overlayEnv) (int, error) {
	return overlayMountWith(o, func(opts []mountOpt, legacy bool) (int, error) {
		opts = withExtraOpts(opts, env.extra)
		if legacy {
			return legacyOverlayMount(opts, attrs, env.tmp)
		}
		return newMount("overlay", "overlay", attrs, opts...)
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
func overlayMountWith(o Overlay, mount func(opts []mountOpt, legacy bool) (int, error)) (int, error) {
	var err error
	for i, opts := range overlayAttempts(o) {
		if opts == nil { // the legacy string is too long for the kernel
			return -1, fmt.Errorf("overlay of %d layers: kernels before Linux 6.8 take at most %d bytes of overlay options "+
				"and these need more (use fewer or shallower layers, or Linux 6.8+, whose lowerdir+ takes any number): %w",
				len(o.Lower), legacyOptionsMax, err)
		}
		var fd int
		fd, err = mount(opts, i > 0)
		if err == nil || !errors.Is(err, unix.EINVAL) {
			return fd, err
		}
	}
	return -1, err
}

// overlayAttempts lists the option sets to try, newest first: lowerdir+,
// then one lowerdir string (legacy), then (for a volatile overlay) without
// volatile. A nil set stands for a legacy string over legacyOptionsMax.
func overlayAttempts(o Overlay) [][]mountOpt {
	attempts := [][]mountOpt{plusOverlayOpts(o), legacyOverlayOpts(o)}
	if o.Volatile {
		o.Volatile = false // before Linux 5.10: a plain overlay does the same, slower
		attempts = append(attempts, legacyOverlayOpts(o))
	}
	return attempts
}

// legacyOverlayMount mounts an overlay of opts with mount(2) on dir tmp
// and returns a detached clone of it; the mount on tmp is gone on return.
func legacyOverlayMount(opts []mountOpt, attrs int, tmp string) (int, error) {
	if err := os.Mkdir(tmp, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return -1, err
	}
	if err := unix.Mount("overlay", tmp, "overlay", msFlags(attrs), legacyData(opts)); err != nil {
		return -1, &os.PathError{Op: "mount overlay (one lowerdir option, before Linux 6.8)", Path: tmp, Err: err}
	}
	defer unix.Unmount(tmp, unix.MNT_DETACH)
	return cloneTree(unix.AT_FDCWD, tmp, false)
}

// msFlags turns MOUNT_ATTR_* flags into mount(2)'s MS_* flags.
func msFlags(attrs int) uintptr {
	var flags uintptr
	for attr, ms := range map[int]uintptr{unix.MOUNT_ATTR_RDONLY: unix.MS_RDONLY, unix.MOUNT_ATTR_NOSUID: unix.MS_NOSUID,
		unix.MOUNT_ATTR_NODEV: unix.MS_NODEV, unix.MOUNT_ATTR_NOEXEC: unix.MS_NOEXEC} {
		if attrs&attr != 0 {
			flags |= ms
		}
	}
	return flags
}

// legacyData is opts as mount(2)'s option string.
func legacyData(opts []mountOpt) string {
	parts := make([]string, 0, len(opts))
	for _, o := range opts {
		if o.value == "" {
			parts = append(parts, o.key)
		} else {
			parts = append(parts, o.key+"="+o.value)
		}
	}
	return strings.Join(parts, ",")
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
// before 6.8; nil when the options exceed what mount(2) takes. Paths are
// escaped for overlayfs's option parser (',' splits options, ':' lower dirs).
func legacyOverlayOpts(o Overlay) []mountOpt {
	esc := strings.NewReplacer(`\`, `\\`, `:`, `\:`, `,`, `\,`)
	lower := make([]string, 0, len(o.Lower))
	for i := len(o.Lower) - 1; i >= 0; i-- {
		lower = append(lower, esc.Replace(o.Lower[i]))
	}
	opts := append([]mountOpt{{"lowerdir", strings.Join(lower, ":")}}, upperOpts(o)...)
	for i := range opts[1:] {
		opts[1+i].value = strings.ReplaceAll(opts[1+i].value, ",", `\,`)
	}
	if len(legacyData(opts))+len(",userxattr") > legacyOptionsMax {
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
