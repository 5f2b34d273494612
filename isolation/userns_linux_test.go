package isolation

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestCheckRootlessKernel(t *testing.T) {
	for rel, ok := range map[string]bool{"6.1.0-27-cloud-amd64": true, "5.11.0": true, "5.10.209": false, "4.19.0": false, "weird": true} {
		if err := checkRootlessKernel(rel); (err == nil) != ok || (err != nil && !strings.Contains(err.Error(), "5.11")) {
			t.Errorf("%s: %v", rel, err)
		}
	}
}

// The settings that block user namespaces are named, with their fix.
func TestUserNSBlockedNamesTheSetting(t *testing.T) {
	sys := t.TempDir()
	set := func(name, v string) {
		os.MkdirAll(filepath.Dir(filepath.Join(sys, name)), 0o755)
		os.WriteFile(filepath.Join(sys, name), []byte(v+"\n"), 0o644)
	}
	eperm := &os.SyscallError{Syscall: "clone", Err: unix.EPERM}
	if err := userNSBlocked(sys, eperm); !strings.Contains(err.Error(), "seccomp") {
		t.Errorf("no sysctl in the way: %v", err)
	}
	set(sysctlMaxUserNS, "0")
	if err := userNSBlocked(sys, unix.ENOSPC); !strings.Contains(err.Error(), "user.max_user_namespaces = 0") ||
		!strings.Contains(err.Error(), "sysctl -w user.max_user_namespaces=15000") {
		t.Errorf("max_user_namespaces: %v", err)
	}
	set(sysctlUnprivClone, "0")
	if err := userNSBlocked(sys, eperm); !strings.Contains(err.Error(), "sysctl -w kernel.unprivileged_userns_clone=1") {
		t.Errorf("unprivileged_userns_clone: %v", err)
	}
	var ue *UserNSError
	if err := userNSBlocked(sys, eperm); !errors.As(err, &ue) || !errors.Is(err, unix.EPERM) {
		t.Errorf("want a UserNSError wrapping EPERM: %v", err)
	}
	if err := userNSPowerless(sys, unix.EACCES); strings.Contains(err.Error(), "apparmor") {
		t.Errorf("no AppArmor restriction: %v", err)
	}
	set(sysctlAppArmorNS, "1")
	if err := userNSPowerless(sys, unix.EACCES); !strings.Contains(err.Error(), "kernel.apparmor_restrict_unprivileged_userns = 1") ||
		!strings.Contains(err.Error(), "userns,") || !strings.Contains(err.Error(), "apparmor_parser -r") {
		t.Errorf("AppArmor restriction: %v", err)
	}
}
