package isolation

import (
	"errors"
	"fmt"
	"runtime"
	"unsafe"

	"github.com/moby/profiles/seccomp"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

//go:generate go run seccomp_gen.go

// errNoSeccompArch is returned by loadSeccomp on an architecture pipe has no
// syscall table for.
var errNoSeccompArch = errors.New("no seccomp syscall table for this architecture (pipe supports amd64 and arm64)")

// setNoNewPrivs sets no_new_privs on every thread of this process, so neither
// it nor any process it starts can gain privileges through execve (setuid
// bits, file capabilities). The seccomp filter needs it.
func setNoNewPrivs() error {
	if err := allThreads(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	return nil
}

// loadSeccomp installs Docker's default seccomp profile, specialised for
// this architecture, this kernel and defaultCapabilities, on every thread of
// this process (SECCOMP_FILTER_FLAG_TSYNC). Children inherit it; it cannot be
// removed. Call setNoNewPrivs first.
func loadSeccomp() error {
	nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	if err != nil {
		return fmt.Errorf("load seccomp filter: prctl(PR_GET_NO_NEW_PRIVS): %w", err)
	}
	if nnp != 1 {
		return errors.New("load seccomp filter: no_new_privs is not set: call setNoNewPrivs first")
	}
	prog, err := defaultSeccompProgram()
	if err != nil {
		return err
	}
	if err := seccompSetModeFilter(prog); err != nil {
		return fmt.Errorf("load seccomp filter (%d instructions): %w", len(prog), err)
	}
	return nil
}

// defaultSeccompProgram compiles the default profile for this host.
func defaultSeccompProgram() ([]unix.SockFilter, error) {
	arch, err := hostSeccompArch()
	if err != nil {
		return nil, err
	}
	profile, err := defaultSeccompProfile()
	if err != nil {
		return nil, err
	}
	prog, err := compileSeccomp(profile, arch)
	if err != nil {
		return nil, fmt.Errorf("compile seccomp profile for %s: %w", arch.name, err)
	}
	return prog, nil
}

// defaultSeccompProfile is Docker's default profile with its conditional
// rules resolved for runtime.GOARCH, the running kernel and
// defaultCapabilities (as the bounding set, as Docker does).
func defaultSeccompProfile() (*specs.LinuxSeccomp, error) {
	rs := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{
		Bounding: defaultCapabilities,
	}}}
	p, err := seccomp.GetDefaultProfile(rs)
	if err != nil {
		return nil, fmt.Errorf("seccomp: specialise Docker's default profile: %w", err)
	}
	return p, nil
}

// hostSeccompArch is the syscall table of the running architecture.
func hostSeccompArch() (*seccompArch, error) {
	switch runtime.GOARCH {
	case "amd64":
		return &seccompArch{name: "amd64", audit: unix.AUDIT_ARCH_X86_64, x32: true, syscalls: seccompSyscallsAMD64()}, nil
	case "arm64":
		return &seccompArch{name: "arm64", audit: unix.AUDIT_ARCH_AARCH64, syscalls: seccompSyscallsARM64()}, nil
	}
	return nil, fmt.Errorf("load seccomp filter on %s: %w", runtime.GOARCH, errNoSeccompArch)
}

// seccompSetModeFilter installs prog with seccomp(2), synchronising every
// thread. On a sync failure the kernel returns the id of the thread that
// could not be synchronised.
func seccompSetModeFilter(prog []unix.SockFilter) error {
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, errno := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	runtime.KeepAlive(prog)
	if errno != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER) (is no_new_privs set?): %w", errno)
	}
	if r != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): thread %d could not be synchronised", r)
	}
	return nil
}
