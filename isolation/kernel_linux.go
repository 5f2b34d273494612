package isolation

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// MinKernel is the oldest Linux pipe's containers run on: every feature
// below it has no fallback. Newer features degrade instead (see
// kernelFeatures and the README's "Supported kernels").
const MinKernel = "5.12"

// kernelFeature is a system call containers cannot do without, the Linux
// version that added it, and a probe that fails with ENOSYS without it.
type kernelFeature struct {
	name, since string
	probe       func() error
}

// kernelFeatures are the system calls pipe needs with no fallback. Each
// probe makes a call that is harmless where the call exists (a bad fd or
// argument: EBADF, EINVAL) and says ENOSYS where it does not.
var kernelFeatures = [...]kernelFeature{
	{"the new mount API (fsopen, fsmount, move_mount)", "5.2", func() error {
		_, err := unix.Fsopen("", unix.FSOPEN_CLOEXEC)
		return err
	}},
	{"clone3 and pidfds", "5.3", func() error {
		_, err := unix.PidfdOpen(-1, 0)
		return err
	}},
	{"openat2", "5.6", func() error {
		_, err := unix.Openat2(-1, "", &unix.OpenHow{})
		return err
	}},
	{"mount_setattr", "5.12", func() error {
		return unix.MountSetattr(-1, "", ^uint(0), &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY})
	}},
}

// KernelError says which system calls the running kernel lacks.
type KernelError struct {
	Release string   // uname -r
	Missing []string // "mount_setattr (Linux 5.12)"
}

func (e *KernelError) Error() string {
	return fmt.Sprintf("kernel %s lacks %s (or a seccomp filter hides it): pipe's containers need Linux %s or later",
		e.Release, strings.Join(e.Missing, ", "), MinKernel)
}

// checkKernel returns a *KernelError when a probe of features says ENOSYS.
func checkKernel(features []kernelFeature) error {
	var missing []string
	for _, f := range features {
		if err := f.probe(); errors.Is(err, unix.ENOSYS) {
			missing = append(missing, fmt.Sprintf("%s (Linux %s)", f.name, f.since))
		}
	}
	if len(missing) == 0 {
		return nil
	}
	var uts unix.Utsname
	release := "?"
	if unix.Uname(&uts) == nil {
		release = unix.ByteSliceToString(uts.Release[:])
	}
	return &KernelError{Release: release, Missing: missing}
}

// kernelOK checks the running kernel's features.
func kernelOK() error {
	if err := checkKernel(kernelFeatures[:]); err != nil {
		return err
	}
	if _, err := os.Stat("/proc/self/ns/cgroup"); err != nil {
		return &KernelError{Release: "?", Missing: []string{"cgroup namespaces (Linux 4.6)"}}
	}
	return nil
}
