package isolation

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// LimitsError is a container refused under Options.StrictLimits because
// its Limits cannot be applied here.
type LimitsError struct {
	ID     string   // the container
	Limits []string // the limits it asks for, e.g. "memory 512 MiB"
	Why    string   // why they cannot be applied
}

func (e *LimitsError) Error() string {
	return fmt.Sprintf("container %s asks for limits (%s) that cannot be applied: %s; %s, or drop --strict-limits to run without them",
		e.ID, strings.Join(e.Limits, ", "), e.Why, cgroupHelp)
}

// runtimeCgroups is the cgroup manager of a Runtime: as root the machine's
// hierarchies; rootless a delegated v2 cgroup, or none (and why).
func runtimeCgroups(o Options) (*cgroupManager, string, error) {
	if o.UserNS == nil {
		m, err := newCgroupManager(o.CgroupParent)
		return m, "", err
	}
	m, why := rootlessCgroups(cgroupConfig{parent: o.CgroupParent})
	return m, why, nil
}

// rootlessStateDir is $XDG_RUNTIME_DIR/pipe, else /tmp/pipe-run-UID (UID
// the user's host uid: setpriv, runuser and su start no login session, so
// there is often no XDG_RUNTIME_DIR).
func rootlessStateDir(u *UserNS) string {
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" && filepath.IsAbs(x) {
		if st, err := os.Stat(x); err == nil && st.IsDir() {
			return filepath.Join(x, "pipe")
		}
	}
	return filepath.Join(os.TempDir(), "pipe-run-"+strconv.Itoa(u.UID))
}

// checkOwnDir refuses a state dir another user could have planted (in /tmp,
// say): it must be a real dir owned by the namespace's root, the user, and
// closed to others.
func checkOwnDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case !st.IsDir():
		return fmt.Errorf("state dir %s is not a directory (remove it)", dir)
	case !ok || sys.Uid != 0:
		return fmt.Errorf("state dir %s belongs to another user: remove it, or set XDG_RUNTIME_DIR to a dir of yours", dir)
	case st.Mode().Perm()&0o077 != 0:
		return os.Chmod(dir, 0o700)
	}
	return nil
}

// askedLimits describes the limits s asks for ("memory 512 MiB", ...).
func askedLimits(l Limits) []string {
	var out []string
	if l.Memory > 0 {
		out = append(out, fmt.Sprintf("memory %d MiB", l.Memory>>20))
	}
	if l.CPUs > 0 {
		out = append(out, fmt.Sprintf("cpus %g", l.CPUs))
	}
	if l.Pids > 0 {
		out = append(out, fmt.Sprintf("pids %d", l.Pids))
	}
	if l.IOReadBPS > 0 || l.IOWriteBPS > 0 {
		out = append(out, "io")
	}
	return out
}

// checkLimits refuses (StrictLimits) or warns once about a container whose
// limits cannot be applied, because pipe has no cgroup.
func (r *Runtime) checkLimits(s *Spec) error {
	if r.noCgroupWhy == "" {
		return nil
	}
	asked := askedLimits(s.Limits)
	if len(asked) == 0 {
		return nil
	}
	if r.opts.StrictLimits {
		return &LimitsError{ID: s.ID, Limits: asked, Why: r.noCgroupWhy}
	}
	r.limitsWarn.Do(func() {
		if r.opts.Warn != nil {
			r.opts.Warn("rootless: the resources: limits of this run (memory, cpus, pids, io; first asked for by " + s.ID + ": " +
				strings.Join(asked, ", ") + ") are NOT applied, nor the default bound of " + strconv.Itoa(defaultPidsLimit) +
				" processes, and peak memory is not measured: " + r.noCgroupWhy + "; " + cgroupHelp +
				". pipe run --strict-limits refuses such steps instead.")
		}
	})
	return nil
}

// errSingleUser is the cause of a container refused for a user other than
// root in a single-id user namespace.
var errSingleUser = errors.New("rootless single-uid mode maps no uid but root: a step cannot run as another user; " +
	"give your user subordinate ids (as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER)")

// checkRootlessKernel refuses kernels whose overlayfs cannot be mounted in
// a user namespace (FS_USERNS_MOUNT and userxattr came in Linux 5.11), with
// release the running kernel's (uname -r).
func checkRootlessKernel(release string) error {
	var major, minor int
	if _, err := fmt.Sscanf(release, "%d.%d", &major, &minor); err != nil {
		return nil // unknown form: let the mount say
	}
	if major < 5 || major == 5 && minor < 11 {
		return fmt.Errorf("rootless containers need overlayfs in a user namespace, with its userxattr option: Linux 5.11 or later, and this kernel is %s; run pipe as root here, or upgrade the kernel", release)
	}
	return nil
}

// kernelRelease is uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// checkRootlessScratch makes sure overlayfs can keep its user.overlay.*
// markers in the scratch dir, where the upper dirs are: with userxattr an
// opaque dir (a lower dir removed and made again) is an xattr in the upper
// dir, and tmpfs has user xattrs only since Linux 6.6. On older kernels the
// scratch tmpfs is given up for a dir on disk, /var/tmp/pipe-scratch-UID
// (slower to clean, but correct). It returns whether the tmpfs is still
// mounted.
func (r *Runtime) checkRootlessScratch(mounted bool) (bool, error) {
	if userXattrOK(r.opts.ScratchDir) {
		return mounted, nil
	}
	if mounted {
		if err := unix.Unmount(r.opts.ScratchDir, unix.MNT_DETACH); err != nil {
			return true, fmt.Errorf("isolation: unmount scratch tmpfs %s: %w", r.opts.ScratchDir, err)
		}
	}
	dir := filepath.Join("/var/tmp", "pipe-scratch-"+strconv.Itoa(r.opts.UserNS.UID))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("isolation: scratch dir: %w", err)
	}
	if err := checkOwnDir(dir); err != nil {
		return false, fmt.Errorf("isolation: %w", err)
	}
	if !userXattrOK(dir) {
		return false, fmt.Errorf("isolation: rootless overlays keep user.overlay.* xattrs in their upper dirs, and neither the scratch tmpfs "+
			"(Linux before 6.6 has no user xattrs on tmpfs) nor %s supports them: put /var/tmp on a filesystem with user xattrs (ext4, xfs, btrfs)", dir)
	}
	r.opts.ScratchDir = dir
	return false, nil
}

// userXattrOK says whether files in dir can carry user.* xattrs.
func userXattrOK(dir string) bool {
	f, err := os.CreateTemp(dir, ".xattr-probe-")
	if err != nil {
		return false
	}
	defer os.Remove(f.Name())
	defer f.Close()
	return unix.Fsetxattr(int(f.Fd()), "user.pipe.probe", []byte("1"), 0) == nil
}
