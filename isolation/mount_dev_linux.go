package isolation

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// devNode is a device node of the container's /dev.
type devNode struct {
	name         string
	major, minor uint32
}

// devNodes are the only devices a container gets (Docker's default set).
var devNodes = [...]devNode{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
	{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

// devLinks are /dev's symlinks.
var devLinks = [...][2]string{
	{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
	{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}, {"/proc/kcore", "core"},
}

// mountDev mounts a fresh tmpfs on /dev, always, whatever the image has
// there, and fills it: device nodes (mknod, or bind mounts of the host's
// nodes where mknod is not allowed), a new devpts instance on /dev/pts, a
// tmpfs on /dev/shm and an mqueue on /dev/mqueue. It returns /dev's root fd.
func mountDev(root int) (int, error) {
	target, err := plainDir(root, "dev", true)
	if err != nil {
		return -1, err
	}
	defer unix.Close(target)
	mfd, err := newMount("tmpfs", "tmpfs", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NOEXEC,
		mountOpt{"mode", "755"}, mountOpt{"size", "65536k"})
	if err != nil {
		return -1, err
	}
	dev, err := attachNew(mfd, target, "/dev")
	if err != nil {
		return -1, err
	}
	if err := fillDev(dev); err != nil {
		unix.Close(dev)
		return -1, fmt.Errorf("populate /dev: %w", err)
	}
	return dev, nil
}

func fillDev(dev int) error {
	for _, n := range devNodes {
		if err := makeDevNode(dev, n); err != nil {
			return err
		}
	}
	for _, d := range []struct {
		name string
		mode uint32
	}{{"pts", 0o755}, {"shm", 0o1777}, {"mqueue", 0o1777}} {
		if err := unix.Mkdirat(dev, d.name, d.mode); err != nil {
			return &os.PathError{Op: "mkdir", Path: "/dev/" + d.name, Err: err}
		}
	}
	for _, l := range devLinks {
		if err := unix.Symlinkat(l[0], dev, l[1]); err != nil {
			return &os.PathError{Op: "symlink", Path: "/dev/" + l[1], Err: err}
		}
	}
	return mountDevSubs(dev)
}

// makeDevNode makes one device node; where mknod is not allowed (a user
// namespace) it bind-mounts the host's node instead.
func makeDevNode(dev int, n devNode) error {
	err := unix.Mknodat(dev, n.name, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor)))
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EPERM) {
		return &os.PathError{Op: "mknod", Path: "/dev/" + n.name, Err: err}
	}
	f, err := unix.Openat(dev, n.name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o666)
	if err != nil {
		return &os.PathError{Op: "create", Path: "/dev/" + n.name, Err: err}
	}
	unix.Close(f)
	return mountAt(dev, n.name, func() (int, error) { return bindMount("/dev/"+n.name, false) })
}

// mountDevSubs mounts /dev/pts, /dev/shm and /dev/mqueue.
func mountDevSubs(dev int) error {
	const nosuidNoexec = unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NOEXEC
	err := mountAt(dev, "pts", func() (int, error) {
		opts := []mountOpt{{"newinstance", ""}, {"ptmxmode", "0666"}, {"mode", "0620"}, {"gid", "5"}}
		fd, err := newMount("devpts", "devpts", nosuidNoexec, opts...)
		if errors.Is(err, unix.EINVAL) {
			// Rootless with a single-id map, gid 5 (tty) does not exist.
			fd, err = newMount("devpts", "devpts", nosuidNoexec, opts[:3]...)
		}
		return fd, err
	})
	if err != nil {
		return err
	}
	err = mountAt(dev, "shm", func() (int, error) {
		return newMount("tmpfs", "shm", nosuidNoexec|unix.MOUNT_ATTR_NODEV, mountOpt{"mode", "1777"}, mountOpt{"size", "65536k"})
	})
	if err != nil {
		return err
	}
	return mountAt(dev, "mqueue", func() (int, error) {
		return newMount("mqueue", "mqueue", nosuidNoexec|unix.MOUNT_ATTR_NODEV)
	})
}

// mountAt attaches the mount made by mk on dir/name, where dir is a fresh
// filesystem of pipe's own (no symlinks to fear).
func mountAt(dir int, name string, mk func() (int, error)) error {
	target, err := unix.Openat(dir, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(target)
	mfd, err := mk()
	if err != nil {
		return err
	}
	return attach(mfd, target, name)
}
