package isolation

import (
	"errors"
	"fmt"
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// setupRootfs builds the container's file system in init's own mount
// namespace and enters it:
//
//  1. every mount is made private first, so that nothing mounted from here
//     on propagates to the host (or anywhere else);
//  2. the overlay root is attached on cfg.RootDir (a dir in the scratch);
//  3. /proc, a fresh tmpfs /dev, a read-only /sys, the masked and read-only
//     paths, the /etc files and the Spec's mounts are attached inside it,
//     each on an fd resolved inside the root;
//  4. pivot_root makes it "/", and the old root is detached.
func setupRootfs(cfg *initConfig) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return &os.PathError{Op: "make mounts private", Path: "/", Err: err}
	}
	root, err := mountRoot(cfg)
	if err != nil {
		return err
	}
	defer unix.Close(root)
	if err := mountSpecial(root, cfg); err != nil {
		return err
	}
	for i := range cfg.Mounts {
		if err := mountOne(root, &cfg.Mounts[i], scratchOf(cfg, i), cfg.overlayEnv()); err != nil {
			return fmt.Errorf("mount %s on %s: %w", cfg.Mounts[i].Type, cfg.Mounts[i].Target, err)
		}
	}
	return pivotRoot(root)
}

func scratchOf(cfg *initConfig, i int) Overlay {
	if i < len(cfg.Scratch) {
		return cfg.Scratch[i]
	}
	return Overlay{}
}

// mountRoot attaches the root overlay and returns its root fd.
func mountRoot(cfg *initConfig) (int, error) {
	target, err := unix.Open(cfg.RootDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: cfg.RootDir, Err: err}
	}
	defer unix.Close(target)
	mfd, err := overlayMount(cfg.Root, 0, cfg.overlayEnv())
	if err != nil {
		return -1, fmt.Errorf("mount root overlay: %w", err)
	}
	return attachNew(mfd, target, cfg.RootDir)
}

// mountSpecial mounts /proc, /dev, /sys, the masks and the /etc files.
func mountSpecial(root int, cfg *initConfig) error {
	proc, err := mountProc(root)
	if err != nil {
		return err
	}
	defer unix.Close(proc)
	dev, err := mountDev(root)
	if err != nil {
		return err
	}
	defer unix.Close(dev)
	if err := mountSys(root, cfg.UserNS); err != nil {
		return err
	}
	if err := mountCgroupfs(root, cfg.Cgroupfs, cfg.UserNS); err != nil {
		return err
	}
	if err := maskPaths(root, proc, dev); err != nil {
		return err
	}
	return mountEtcFiles(root, cfg.EtcDir)
}

// plainDir returns an O_PATH fd of the directory name right under the root,
// which must be a real directory (not a symlink). A missing one is created.
// With replace, a symlink or file there is removed and a directory made in
// its place (the image's /dev may point anywhere; pipe's /dev goes on a real
// directory); without, it is refused.
func plainDir(root int, name string, replace bool) (int, error) {
	fd, err := openNoFollow(root, name, unix.O_DIRECTORY)
	if err == nil {
		return fd, nil
	}
	switch {
	case errors.Is(err, unix.ENOENT):
	case replace && (errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR)):
		if err := unix.Unlinkat(root, name, 0); err != nil {
			return -1, &os.PathError{Op: "remove the image's", Path: "/" + name, Err: err}
		}
	case errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR):
		return -1, fmt.Errorf("the image's /%s is a symlink or not a directory: refusing to mount over it (a hostile image?): %w", name, err)
	default:
		return -1, err
	}
	if err := unix.Mkdirat(root, name, 0o755); err != nil && err != unix.EEXIST {
		return -1, &os.PathError{Op: "mkdir", Path: "/" + name, Err: err}
	}
	return openNoFollow(root, name, unix.O_DIRECTORY)
}

// mountProc mounts a procfs of the container's pid namespace on /proc and
// returns its root fd.
func mountProc(root int) (int, error) {
	target, err := plainDir(root, "proc", false)
	if err != nil {
		return -1, err
	}
	defer unix.Close(target)
	mfd, err := newMount("proc", "proc", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, err
	}
	return attachNew(mfd, target, "/proc")
}

// mountSys mounts a read-only sysfs on /sys. Rootless, in the host's network
// namespace (network host), the kernel refuses sysfs to a user namespace
// that does not own the network namespace: then the host's /sys is bound,
// recursively and read-only, as runc does rootless.
func mountSys(root int, userns bool) error {
	target, err := plainDir(root, "sys", false)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	mfd, err := newMount("sysfs", "sysfs", unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil && userns && errors.Is(err, unix.EPERM) {
		mfd, err = bindMount("/sys", true)
	}
	if err != nil {
		return err
	}
	return attach(mfd, target, "/sys")
}

// mountEtcFiles bind-mounts the generated hosts, hostname and resolv.conf.
// Their targets are resolved in the root (the image's may be symlinks) and
// must end as regular files outside /proc and /sys.
func mountEtcFiles(root int, etcDir string) error {
	for _, name := range []string{"hosts", "hostname", "resolv.conf"} {
		if err := mountEtcFile(root, etcDir, name); err != nil {
			return fmt.Errorf("mount /etc/%s: %w", name, err)
		}
	}
	return nil
}

func mountEtcFile(root int, etcDir, name string) error {
	target, err := createFileInRoot(root, "/etc/"+name)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	if err := checkTarget(target, false); err != nil {
		return err
	}
	mfd, err := bindMount(path.Join(etcDir, name), false)
	if err != nil {
		return err
	}
	return attach(mfd, target, "/etc/"+name)
}

// checkTarget refuses a mount target on procfs or sysfs, or of the wrong type.
func checkTarget(fd int, dir bool) error {
	bad, err := isProcOrSys(fd)
	if err != nil {
		return err
	}
	if bad {
		return fmt.Errorf("target resolves to %s, inside /proc or /sys: refusing (a symlink in the image?)", fdPath(fd))
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &os.PathError{Op: "fstat", Path: fdPath(fd), Err: err}
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if dir && !isDir {
		return fmt.Errorf("target %s is not a directory", fdPath(fd))
	}
	if !dir && st.Mode&unix.S_IFMT != unix.S_IFREG {
		return fmt.Errorf("target %s is not a regular file", fdPath(fd))
	}
	return nil
}

// pivotRoot makes root the process's "/" and detaches the old root, with
// pivot_root(".", ".") as runc does: no put_old dir is needed.
func pivotRoot(root int) error {
	if err := unix.Fchdir(root); err != nil {
		return &os.PathError{Op: "fchdir", Path: "new root", Err: err}
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return &os.PathError{Op: "pivot_root", Path: ".", Err: err}
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return &os.PathError{Op: "umount old root", Path: ".", Err: err}
	}
	if err := unix.Chdir("/"); err != nil {
		return &os.PathError{Op: "chdir", Path: "/", Err: err}
	}
	return nil
}
