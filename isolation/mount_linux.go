package isolation

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// Mounts are made with the kernel's new mount API: a filesystem is
// configured (fsopen/fsconfig), turned into a detached mount (fsmount) and
// then attached to an O_PATH fd resolved inside the root (move_mount). A
// detached mount can be filled before anyone can see it (/dev), and no mount
// ever goes through a path string.

// mountOpt is one fsconfig option; an empty value sets a flag.
type mountOpt struct{ key, value string }

// newMount configures a filesystem of type fstype and returns a detached
// mount of it with the given MOUNT_ATTR_* flags.
func newMount(fstype, source string, attrs int, opts ...mountOpt) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, &os.PathError{Op: "fsopen", Path: fstype, Err: err}
	}
	defer unix.Close(fsfd)
	if source != "" {
		opts = append([]mountOpt{{"source", source}}, opts...)
	}
	for _, o := range opts {
		if err := fsconfigSet(fsfd, o); err != nil {
			return -1, fmt.Errorf("mount %s: option %s=%s: %w", fstype, o.key, o.value, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, &os.PathError{Op: "fsconfig create", Path: fstype, Err: err}
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, attrs)
	if err != nil {
		return -1, &os.PathError{Op: "fsmount", Path: fstype, Err: err}
	}
	return mfd, nil
}

func fsconfigSet(fsfd int, o mountOpt) error {
	if o.value == "" {
		return unix.FsconfigSetFlag(fsfd, o.key)
	}
	return unix.FsconfigSetString(fsfd, o.key, o.value)
}

// attach moves the detached mount mfd onto target (an O_PATH fd) and closes mfd.
func attach(mfd, target int, what string) error {
	defer unix.Close(mfd)
	err := unix.MoveMount(mfd, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if err != nil {
		return &os.PathError{Op: "move_mount", Path: what, Err: err}
	}
	return nil
}

// attachNew attaches mfd onto target and returns an O_PATH fd of the
// attached mount's root (target itself still refers to what is underneath).
func attachNew(mfd, target int, what string) (int, error) {
	err := unix.MoveMount(mfd, "", target, "", unix.MOVE_MOUNT_F_EMPTY_PATH|unix.MOVE_MOUNT_T_EMPTY_PATH)
	if err != nil {
		unix.Close(mfd)
		return -1, &os.PathError{Op: "move_mount", Path: what, Err: err}
	}
	return mfd, nil
}

// cloneTree returns a detached copy of the mount tree at dir/p (a bind mount
// not yet attached).
func cloneTree(dir int, p string, recursive bool) (int, error) {
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	if p == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	fd, err := unix.OpenTree(dir, p, flags)
	if err != nil {
		return -1, &os.PathError{Op: "open_tree", Path: p, Err: err}
	}
	return fd, nil
}

// setMountAttr sets MOUNT_ATTR_* flags on the mount (tree) of fd.
func setMountAttr(fd int, attr uint64, recursive bool) error {
	flags := uint(unix.AT_EMPTY_PATH)
	if recursive {
		flags |= unix.AT_RECURSIVE
	}
	err := unix.MountSetattr(fd, "", flags, &unix.MountAttr{Attr_set: attr})
	if err != nil {
		return &os.PathError{Op: "mount_setattr", Path: fdPath(fd), Err: err}
	}
	return nil
}

// bindMount returns a detached recursive copy of the host path src,
// read-only when ro.
func bindMount(src string, ro bool) (int, error) {
	fd, err := cloneTree(unix.AT_FDCWD, src, true)
	if err != nil {
		return -1, fmt.Errorf("bind mount %s: %w", src, err)
	}
	if ro {
		if err := setMountAttr(fd, unix.MOUNT_ATTR_RDONLY, true); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("bind mount %s read-only: %w", src, err)
		}
	}
	return fd, nil
}

// isProcOrSys says whether fd lies on procfs or sysfs, where no mount of the
// Spec may land (a symlink in the image must not aim a mount at /proc/sys).
func isProcOrSys(fd int) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil {
		return false, &os.PathError{Op: "fstatfs", Path: fdPath(fd), Err: err}
	}
	return st.Type == unix.PROC_SUPER_MAGIC || st.Type == unix.SYSFS_MAGIC, nil
}
