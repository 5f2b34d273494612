package isolation

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// mountOne attaches one of the Spec's mounts. Its target is resolved (and
// made, when missing) inside the root; it may not land in /proc or /sys.
// scratch is the upper/work pair for an overlay mount without an upper.
func mountOne(root int, m *Mount, scratch Overlay, env overlayEnv) error {
	isDir := true
	if m.Type == MountBind {
		st, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("bind source: %w", err)
		}
		isDir = st.IsDir()
	}
	target, err := mountTarget(root, m.Target, isDir)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	mfd, err := specMount(m, scratch, env)
	if err != nil {
		return err
	}
	return attach(mfd, target, m.Target)
}

// mountTarget resolves (or makes) the dir or file target inside root.
func mountTarget(root int, target string, isDir bool) (int, error) {
	var fd int
	var err error
	if isDir {
		fd, err = mkdirAllInRoot(root, target, 0o755)
	} else {
		fd, err = createFileInRoot(root, target)
	}
	if err != nil {
		return -1, err
	}
	if err := checkTarget(fd, isDir); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if same, err := sameFile(fd, root); err != nil || same {
		unix.Close(fd)
		return -1, fmt.Errorf("target %s resolves to the container's root directory: refusing to mount over it (a symlink in the image?)", target)
	}
	return fd, nil
}

// sameFile says whether two fds refer to the same inode.
func sameFile(a, b int) (bool, error) {
	var sa, sb unix.Stat_t
	if err := unix.Fstat(a, &sa); err != nil {
		return false, err
	}
	if err := unix.Fstat(b, &sb); err != nil {
		return false, err
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
}

// specMount makes the detached mount of m.
func specMount(m *Mount, scratch Overlay, env overlayEnv) (int, error) {
	var attrs int
	if m.ReadOnly {
		attrs = unix.MOUNT_ATTR_RDONLY
	}
	switch m.Type {
	case MountBind:
		return bindMount(m.Source, m.ReadOnly)
	case MountTmpfs:
		opts := []mountOpt{{"mode", "1777"}}
		if m.Size > 0 {
			opts = append(opts, mountOpt{"size", fmt.Sprint(m.Size)})
		}
		return newMount("tmpfs", "tmpfs", attrs|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV, opts...)
	case MountOverlay:
		o := m.Overlay
		if o.Upper == "" {
			o.Upper, o.Work = scratch.Upper, scratch.Work
		}
		return overlayMount(o, attrs, env)
	}
	return -1, fmt.Errorf("unknown mount type %q (want bind, tmpfs or overlay)", m.Type)
}
