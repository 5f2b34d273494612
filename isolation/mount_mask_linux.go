package isolation

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// maskedPaths are hidden from the container, as runc and Docker do: a file
// gets /dev/null bound over it, a directory an empty read-only tmpfs.
var maskedPaths = [...]string{
	"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
	"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
	"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
}

// readonlyPaths are bound read-only over themselves.
var readonlyPaths = [...]string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// maskPaths applies maskedPaths and readonlyPaths. proc and dev are the
// roots of the container's /proc and /dev mounts; the paths are opened
// relative to those fresh mounts, never through the image.
func maskPaths(root, proc, dev int) error {
	for _, p := range maskedPaths {
		if err := maskPath(root, proc, dev, p); err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}
	for _, p := range readonlyPaths {
		if err := readonlyPath(proc, strings.TrimPrefix(p, "/proc/")); err != nil {
			return fmt.Errorf("make %s read-only: %w", p, err)
		}
	}
	return nil
}

func maskPath(root, proc, dev int, p string) error {
	dir, rel := root, strings.TrimPrefix(p, "/")
	if r, ok := strings.CutPrefix(p, "/proc/"); ok {
		dir, rel = proc, r
	}
	target, err := unix.Openat(dir, rel, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(target)
	var st unix.Stat_t
	if err := unix.Fstat(target, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: p, Err: err}
	}
	var mfd int
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		mfd, err = newMount("tmpfs", "tmpfs", unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC,
			mountOpt{"size", "0"}, mountOpt{"mode", "755"})
	} else {
		mfd, err = cloneTree(dev, "null", false)
	}
	if err != nil {
		return err
	}
	return attach(mfd, target, p)
}

// readonlyPath binds proc/rel read-only over itself.
func readonlyPath(proc int, rel string) error {
	target, err := unix.Openat(proc, rel, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: rel, Err: err}
	}
	defer unix.Close(target)
	mfd, err := cloneTree(target, "", true)
	if err != nil {
		return err
	}
	if err := setMountAttr(mfd, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC, true); err != nil {
		unix.Close(mfd)
		return err
	}
	return attach(mfd, target, rel)
}
