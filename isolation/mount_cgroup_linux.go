package isolation

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"golang.org/x/sys/unix"
)

// A step sees its own cgroup at /sys/fs/cgroup, read-only, as Docker and
// Podman give: init entered a cgroup namespace once in its cgroup, so a
// cgroup filesystem mounted there has the container's cgroup as its root.
// Go (GOMAXPROCS from cpu.max), the JVM and Node size themselves by it.
// On v2 that is one cgroup2 mount; on v1 a tmpfs holds one mount per
// hierarchy pipe limits by, named as on the host (cpu,cpuacct with cpu and
// cpuacct as symlinks to it where they are co-mounted).

// cgroupfsMount is one cgroup filesystem to mount under /sys/fs/cgroup.
type cgroupfsMount struct {
	Dir     string   `json:"dir,omitempty"` // under /sys/fs/cgroup; "" is /sys/fs/cgroup itself (v2)
	FSType  string   `json:"fstype"`        // cgroup2 or cgroup
	Options []string `json:"options,omitempty"`
	Links   []string `json:"links,omitempty"` // symlinks to Dir (co-mounted controllers)
}

// cgroupfsMounts lists the mounts that show a container its own cgroup in
// layout; none when pipe has no cgroups.
func cgroupfsMounts(layout cgroupLayout) []cgroupfsMount {
	if layout.version == 2 {
		return []cgroupfsMount{{FSType: "cgroup2"}}
	}
	byMount := map[string][]string{}
	for ctrl, mnt := range layout.v1 {
		byMount[mnt] = append(byMount[mnt], ctrl)
	}
	var out []cgroupfsMount
	for mnt, ctrls := range byMount {
		sort.Strings(ctrls)
		m := cgroupfsMount{Dir: filepath.Base(mnt), FSType: "cgroup", Options: ctrls}
		for _, c := range ctrls {
			if c != m.Dir {
				m.Links = append(m.Links, c)
			}
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dir < out[j].Dir })
	return out
}

// mountCgroupfs mounts ms on the root's /sys/fs/cgroup (below the fresh
// sysfs), read-only. Rootless, where the kernel may refuse a cgroup
// filesystem to a user namespace, /sys/fs/cgroup stays as sysfs left it.
func mountCgroupfs(root int, ms []cgroupfsMount, userns bool) error {
	if len(ms) == 0 {
		return nil
	}
	target, err := unix.Openat(root, "sys/fs/cgroup", unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: "/sys/fs/cgroup", Err: err}
	}
	defer unix.Close(target)
	if ms[0].Dir == "" {
		var mfd int
		if mfd, err = cgroupMount(ms[0]); err == nil {
			err = attach(mfd, target, "/sys/fs/cgroup")
		}
	} else {
		err = mountCgroupV1(target, ms)
	}
	if err != nil && userns {
		return nil
	}
	if err != nil {
		return fmt.Errorf("mount the container's cgroup on /sys/fs/cgroup: %w", err)
	}
	return nil
}

// mountCgroupV1 attaches a tmpfs on target, one cgroup hierarchy per dir of
// it, and then makes the tmpfs read-only.
func mountCgroupV1(target int, ms []cgroupfsMount) error {
	mfd, err := newMount("tmpfs", "cgroup", unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC,
		mountOpt{"mode", "755"}, mountOpt{"size", "64k"})
	if err != nil {
		return err
	}
	dir, err := attachNew(mfd, target, "/sys/fs/cgroup")
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	for _, m := range ms {
		if err := unix.Mkdirat(dir, m.Dir, 0o555); err != nil {
			return &os.PathError{Op: "mkdir", Path: "/sys/fs/cgroup/" + m.Dir, Err: err}
		}
		for _, l := range m.Links {
			if err := unix.Symlinkat(m.Dir, dir, l); err != nil {
				return &os.PathError{Op: "symlink", Path: "/sys/fs/cgroup/" + l, Err: err}
			}
		}
		if err := mountAt(dir, m.Dir, func() (int, error) { return cgroupMount(m) }); err != nil {
			return err
		}
	}
	return setMountAttr(dir, unix.MOUNT_ATTR_RDONLY, false)
}

// cgroupMount returns a detached read-only cgroup filesystem of m.
func cgroupMount(m cgroupfsMount) (int, error) {
	opts := make([]mountOpt, 0, len(m.Options))
	for _, o := range m.Options {
		opts = append(opts, mountOpt{o, ""})
	}
	return newMount(m.FSType, "cgroup", unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC, opts...)
}
