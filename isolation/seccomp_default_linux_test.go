package isolation

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// Values the profile's conditions are about (linux/personality.h, SIGCHLD).
const (
	seccompSIGCHLD    = 17
	seccompPerLinux32 = 0x0008
	seccompPerBSD     = 0x0006
)

// seccompAMD64Calls are a syscall of the default profile on amd64 with its expected
// verdict.
func seccompAMD64Calls() []seccompCall {
	enosys := unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	nr := func(name string) uint32 { return seccompSyscallsAMD64()[name] }
	a0 := func(v uint64) [6]uint64 { return [6]uint64{v} }
	return []seccompCall{
		{name: "read", nr: nr("read"), want: seccompRetAllow},
		{name: "futex", nr: nr("futex"), want: seccompRetAllow},
		{name: "execve", nr: nr("execve"), want: seccompRetAllow},
		{name: "mount", nr: nr("mount"), want: seccompRetEPERM},
		{name: "umount2", nr: nr("umount2"), want: seccompRetEPERM},
		{name: "unshare", nr: nr("unshare"), want: seccompRetEPERM},
		{name: "setns", nr: nr("setns"), want: seccompRetEPERM},
		{name: "keyctl", nr: nr("keyctl"), want: seccompRetEPERM},
		{name: "add_key", nr: nr("add_key"), want: seccompRetEPERM},
		{name: "kexec_load", nr: nr("kexec_load"), want: seccompRetEPERM},
		{name: "open_by_handle_at", nr: nr("open_by_handle_at"), want: seccompRetEPERM},
		{name: "bpf", nr: nr("bpf"), want: seccompRetEPERM},
		{name: "init_module", nr: nr("init_module"), want: seccompRetEPERM},
		{name: "reboot", nr: nr("reboot"), want: seccompRetEPERM},
		{name: "chroot (CAP_SYS_CHROOT kept)", nr: nr("chroot"), want: seccompRetAllow},
		{name: "ptrace (allowed on kernels >= 4.8)", nr: nr("ptrace"), want: seccompRetAllow},
		{name: "clone3", nr: nr("clone3"), want: enosys},
		{name: "clone fork", nr: nr("clone"), args: a0(seccompSIGCHLD), want: seccompRetAllow},
		{name: "clone vfork+pidfd", nr: nr("clone"), args: a0(unix.CLONE_VM | unix.CLONE_VFORK | unix.CLONE_PIDFD | seccompSIGCHLD), want: seccompRetAllow},
		{name: "clone thread", nr: nr("clone"), args: a0(0x50f00), want: seccompRetAllow},
		{name: "clone newns", nr: nr("clone"), args: a0(unix.CLONE_NEWNS | seccompSIGCHLD), want: seccompRetEPERM},
		{name: "clone newuser", nr: nr("clone"), args: a0(unix.CLONE_NEWUSER), want: seccompRetEPERM},
		{name: "clone newnet", nr: nr("clone"), args: a0(unix.CLONE_NEWNET), want: seccompRetEPERM},
		{name: "personality query", nr: nr("personality"), args: a0(0xffffffff), want: seccompRetAllow},
		{name: "personality linux", nr: nr("personality"), args: a0(0), want: seccompRetAllow},
		{name: "personality linux32", nr: nr("personality"), args: a0(seccompPerLinux32), want: seccompRetAllow},
		{name: "personality bsd", nr: nr("personality"), args: a0(seccompPerBSD), want: seccompRetEPERM},
		{name: "personality 64-bit query", nr: nr("personality"), args: a0(0xffffffff_ffffffff), want: seccompRetEPERM},
		{name: "socket unix", nr: nr("socket"), args: a0(unix.AF_UNIX), want: seccompRetAllow},
		{name: "socket inet", nr: nr("socket"), args: a0(unix.AF_INET), want: seccompRetAllow},
		{name: "socket inet6", nr: nr("socket"), args: a0(unix.AF_INET6), want: seccompRetAllow},
		{name: "socket netlink", nr: nr("socket"), args: a0(unix.AF_NETLINK), want: seccompRetAllow},
		{name: "socket vsock", nr: nr("socket"), args: a0(unix.AF_VSOCK), want: seccompRetEPERM},
		{name: "socket alg", nr: nr("socket"), args: a0(unix.AF_ALG), want: seccompRetEPERM},
		{name: "socket inet with high bits", nr: nr("socket"), args: a0(1<<32 | unix.AF_INET), want: seccompRetEPERM},
		{name: "x32 read", nr: x32SyscallBit | nr("read"), want: seccompRetKill},
	}
}

func TestSeccompDefaultProfileAMD64(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the profile is specialised for the running architecture; this table is amd64's")
	}
	prog, err := defaultSeccompProgram()
	if err != nil {
		t.Fatal(err)
	}
	checkSeccompCalls(t, prog, seccompAMD64Calls())
	if got := evalSeccomp(t, prog, seccompData{arch: unix.AUDIT_ARCH_I386}); got != seccompRetKill {
		t.Errorf("i386 syscall: got %#x, want kill", got)
	}
	t.Logf("filter: %d instructions", len(prog))
}

func TestSeccompDefaultProfileARM64Table(t *testing.T) {
	p, err := defaultSeccompProfile()
	if err != nil {
		t.Fatal(err)
	}
	arch := &seccompArch{name: "arm64", audit: unix.AUDIT_ARCH_AARCH64, syscalls: seccompSyscallsARM64()}
	prog := mustCompileSeccomp(t, p, arch)
	nr := func(name string) uint32 {
		n, ok := seccompSyscallsARM64()[name]
		if !ok {
			t.Fatalf("%s not in the arm64 table", name)
		}
		return n
	}
	for _, c := range []seccompCall{
		{name: "openat", nr: nr("openat"), want: seccompRetAllow},
		{name: "mount", nr: nr("mount"), want: seccompRetEPERM},
		{name: "clone newns", nr: nr("clone"), args: [6]uint64{unix.CLONE_NEWNS}, want: seccompRetEPERM},
		{name: "x32 bit is not special", nr: x32SyscallBit, want: seccompRetEPERM},
	} {
		d := seccompData{nr: c.nr, arch: unix.AUDIT_ARCH_AARCH64, args: c.args}
		if got := evalSeccomp(t, prog, d); got != c.want {
			t.Errorf("%s: got %#x, want %#x", c.name, got, c.want)
		}
	}
	if got := evalSeccomp(t, prog, seccompData{nr: nr("openat"), arch: unix.AUDIT_ARCH_X86_64}); got != seccompRetKill {
		t.Errorf("x86_64 syscall on an arm64 filter: got %#x, want kill", got)
	}
}

func TestSeccompSyscallTables(t *testing.T) {
	for name, want := range map[string]uint32{"read": unix.SYS_READ, "clone": unix.SYS_CLONE, "seccomp": unix.SYS_SECCOMP} {
		if runtime.GOARCH == "amd64" && seccompSyscallsAMD64()[name] != want {
			t.Errorf("amd64 %s = %d, want %d", name, seccompSyscallsAMD64()[name], want)
		}
		if runtime.GOARCH == "arm64" && seccompSyscallsARM64()[name] != want {
			t.Errorf("arm64 %s = %d, want %d", name, seccompSyscallsARM64()[name], want)
		}
	}
	if seccompSyscallsAMD64()["clone3"] != 435 || seccompSyscallsARM64()["clone3"] != 435 || seccompSyscallsARM64()["openat"] != 56 {
		t.Error("syscall tables look wrong: regenerate them with go generate")
	}
}

// BenchmarkSeccompCompile measures what every container init pays to build
// its filter: specialising the profile and compiling it.
func BenchmarkSeccompCompile(b *testing.B) {
	for b.Loop() {
		if _, err := defaultSeccompProgram(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSeccompFilterRun measures the filter's cost per syscall in the
// test interpreter (the kernel JIT-compiles it, so this is an upper bound
// in instructions, not in time).
func BenchmarkSeccompFilterRun(b *testing.B) {
	prog, err := defaultSeccompProgram()
	if err != nil {
		b.Fatal(err)
	}
	d := seccompData{nr: unix.SYS_READ, arch: unix.AUDIT_ARCH_X86_64}
	for b.Loop() {
		if _, err := runBPF(prog, d); err != nil {
			b.Fatal(err)
		}
	}
}
