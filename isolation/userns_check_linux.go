package isolation

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// Machine settings that keep an ordinary user from creating a user
// namespace, or from using the capabilities it gives, each with its fix.
// (Read from /proc/sys; a missing file means the kernel has no such knob.)
const (
	procSys           = "/proc/sys"
	sysctlUnprivClone = "kernel/unprivileged_userns_clone"             // Debian's patch; 0 forbids
	sysctlMaxUserNS   = "user/max_user_namespaces"                     // 0 forbids
	sysctlAppArmorNS  = "kernel/apparmor_restrict_unprivileged_userns" // Ubuntu 23.10+; 1 strips the caps
)

// UserNSError says why pipe cannot make or use its user namespace, and what
// the machine's administrator can do about it.
type UserNSError struct {
	Setting string // the sysctl (or other setting) in the way, if known
	Fix     string // what to do
	Err     error
}

func (e *UserNSError) Error() string {
	msg := "rootless: cannot create a user namespace"
	if e.Setting != "" {
		msg += ": " + e.Setting
	}
	if e.Err != nil {
		msg += fmt.Sprintf(" (%v)", e.Err)
	}
	if e.Fix != "" {
		msg += "; " + e.Fix
	}
	return msg
}

func (e *UserNSError) Unwrap() error { return e.Err }

// readSysctl is the trimmed content of the sysctl file name under dir
// (/proc/sys), "" when missing.
func readSysctl(dir, name string) string {
	b, err := os.ReadFile(dir + "/" + name)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// userNSBlocked explains a failed clone(CLONE_NEWUSER) by the settings
// under sys (/proc/sys) that forbid it.
func userNSBlocked(sys string, err error) error {
	switch {
	case readSysctl(sys, sysctlUnprivClone) == "0":
		return &UserNSError{Setting: "kernel.unprivileged_userns_clone = 0",
			Fix: "as root: sysctl -w kernel.unprivileged_userns_clone=1 (and set it in /etc/sysctl.d/ to keep it)", Err: err}
	case readSysctl(sys, sysctlMaxUserNS) == "0":
		return &UserNSError{Setting: "user.max_user_namespaces = 0",
			Fix: "as root: sysctl -w user.max_user_namespaces=15000 (and set it in /etc/sysctl.d/ to keep it)", Err: err}
	case errors.Is(err, os.ErrPermission):
		return &UserNSError{Setting: "a seccomp filter or security policy forbids it",
			Fix: "in a container, run it with --security-opt seccomp=unconfined (and apparmor=unconfined), or run pipe as root", Err: err}
	}
	return &UserNSError{Err: err}
}

// userNSPowerless explains why root of the new namespace could not use its
// capabilities (the first mount failed).
func userNSPowerless(sys string, err error) error {
	if readSysctl(sys, sysctlAppArmorNS) == "1" {
		exe, _ := os.Executable()
		return &UserNSError{Setting: "kernel.apparmor_restrict_unprivileged_userns = 1 (AppArmor gives unprivileged user namespaces no capabilities)",
			Fix: fmt.Sprintf("as root, either allow pipe: write /etc/apparmor.d/pipe with\n"+
				"  abi <abi/4.0>,\n  include <tunables/global>\n  profile pipe %s flags=(unconfined) {\n    userns,\n  }\n"+
				"then run apparmor_parser -r /etc/apparmor.d/pipe; or lift the restriction for everyone: sysctl -w kernel.apparmor_restrict_unprivileged_userns=0", exe),
			Err: err}
	}
	return &UserNSError{Setting: "root of the new user namespace cannot mount (a security policy strips its capabilities)",
		Fix: "check the machine's LSM (AppArmor, SELinux) policy for user namespaces, or run pipe as root", Err: err}
}
