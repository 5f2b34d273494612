package isolation

import (
	"math/rand"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	seccompRetAllow = unix.SECCOMP_RET_ALLOW
	seccompRetEPERM = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	seccompRetKill  = unix.SECCOMP_RET_KILL_PROCESS
)

// seccompTestArch is a small made-up architecture for the compiler's unit tests.
func seccompTestArch() *seccompArch {
	return &seccompArch{name: "test", audit: unix.AUDIT_ARCH_X86_64, x32: true, syscalls: map[string]uint32{
		"zero": 0, "one": 1, "two": 2, "three": 3, "ten": 10, "eleven": 11, "big": 500, "max": 0x3fffffff,
	}}
}

func errnoPtr(v uint) *uint { return &v }

func seccompAllow(names ...string) specs.LinuxSyscall {
	return specs.LinuxSyscall{Names: names, Action: specs.ActAllow}
}

func seccompAllowIf(name string, args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
	return specs.LinuxSyscall{Names: []string{name}, Action: specs.ActAllow, Args: args}
}

func seccompArg(i uint, op specs.LinuxSeccompOperator, v, v2 uint64) specs.LinuxSeccompArg {
	return specs.LinuxSeccompArg{Index: i, Op: op, Value: v, ValueTwo: v2}
}

func mustCompileSeccomp(t testing.TB, p *specs.LinuxSeccomp, arch *seccompArch) []unix.SockFilter {
	t.Helper()
	prog, err := compileSeccomp(p, arch)
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

func evalSeccomp(t *testing.T, prog []unix.SockFilter, d seccompData) uint32 {
	t.Helper()
	ret, err := runBPF(prog, d)
	if err != nil {
		t.Fatalf("run filter on %+v: %v", d, err)
	}
	return ret
}

// seccompCall is one input for a filter with the expected verdict.
type seccompCall struct {
	name string
	nr   uint32
	args [6]uint64
	want uint32
}

func checkSeccompCalls(t *testing.T, prog []unix.SockFilter, calls []seccompCall) {
	t.Helper()
	for _, c := range calls {
		d := seccompData{nr: c.nr, arch: unix.AUDIT_ARCH_X86_64, args: c.args}
		if got := evalSeccomp(t, prog, d); got != c.want {
			t.Errorf("%s: nr %d args %#x: got %#x, want %#x", c.name, c.nr, c.args, got, c.want)
		}
	}
}

func TestSeccompCompileActionsAndArch(t *testing.T) {
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		seccompAllow("zero", "two", "ten", "max", "not-in-table"),
		{Names: []string{"three"}, Action: specs.ActErrno, ErrnoRet: errnoPtr(uint(unix.ENOSYS))},
		{Names: []string{"big"}, Action: specs.ActKillProcess},
	}}
	prog := mustCompileSeccomp(t, p, seccompTestArch())
	checkSeccompCalls(t, prog, []seccompCall{
		{name: "allowed 0", nr: 0, want: seccompRetAllow},
		{name: "default 1", nr: 1, want: seccompRetEPERM},
		{name: "allowed 2", nr: 2, want: seccompRetAllow},
		{name: "errnoRet", nr: 3, want: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{name: "gap", nr: 4, want: seccompRetEPERM},
		{name: "allowed 10", nr: 10, want: seccompRetAllow},
		{name: "default 11", nr: 11, want: seccompRetEPERM},
		{name: "kill", nr: 500, want: seccompRetKill},
		{name: "top of the native range", nr: 0x3fffffff, want: seccompRetAllow},
		{name: "x32 bit", nr: x32SyscallBit | 2, want: seccompRetKill},
		{name: "-1 is not x32", nr: 0xffffffff, want: seccompRetEPERM},
		{name: "top of the x32 range", nr: 0xfffffffe, want: seccompRetKill},
	})
	d := seccompData{nr: 0, arch: unix.AUDIT_ARCH_I386}
	if got := evalSeccomp(t, prog, d); got != seccompRetKill {
		t.Errorf("foreign arch: got %#x, want kill", got)
	}
	arm := seccompTestArch()
	arm.x32 = false
	prog = mustCompileSeccomp(t, p, arm)
	checkSeccompCalls(t, prog, []seccompCall{{name: "no x32 check", nr: 0xffffffff, want: seccompRetEPERM}})
}

func TestSeccompCompileConditions(t *testing.T) {
	const hi = 1 << 32
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		seccompAllowIf("zero", seccompArg(0, specs.OpEqualTo, hi|5, 0)),
		seccompAllowIf("one", seccompArg(1, specs.OpNotEqual, hi|5, 0)),
		seccompAllowIf("two", seccompArg(2, specs.OpMaskedEqual, 0xff000000_000000f0, 0x12000000_00000030)),
		seccompAllowIf("three", seccompArg(0, specs.OpLessThan, hi|5, 0)),
		seccompAllowIf("ten", seccompArg(5, specs.OpGreaterThan, hi|5, 0)),
		seccompAllowIf("eleven", seccompArg(3, specs.OpLessEqual, hi|5, 0)),
		seccompAllowIf("big", seccompArg(4, specs.OpGreaterEqual, hi|5, 0)),
	}}
	prog := mustCompileSeccomp(t, p, seccompTestArch())
	a := func(i int, v uint64) (out [6]uint64) { out[i] = v; return out }
	checkSeccompCalls(t, prog, []seccompCall{
		{name: "eq", nr: 0, args: a(0, hi|5), want: seccompRetAllow},
		{name: "eq low half only", nr: 0, args: a(0, 5), want: seccompRetEPERM},
		{name: "eq high half only", nr: 0, args: a(0, hi|6), want: seccompRetEPERM},
		{name: "ne equal", nr: 1, args: a(1, hi|5), want: seccompRetEPERM},
		{name: "ne low differs", nr: 1, args: a(1, hi|4), want: seccompRetAllow},
		{name: "ne high differs", nr: 1, args: a(1, 5), want: seccompRetAllow},
		{name: "masked match", nr: 2, args: a(2, 0x12345678_9abcde3f), want: seccompRetAllow},
		{name: "masked low differs", nr: 2, args: a(2, 0x12345678_9abcde4f), want: seccompRetEPERM},
		{name: "masked high differs", nr: 2, args: a(2, 0x13345678_9abcde3f), want: seccompRetEPERM},
		{name: "lt below by high", nr: 3, args: a(0, 0xffffffff), want: seccompRetAllow},
		{name: "lt below by low", nr: 3, args: a(0, hi|4), want: seccompRetAllow},
		{name: "lt equal", nr: 3, args: a(0, hi|5), want: seccompRetEPERM},
		{name: "lt above by high", nr: 3, args: a(0, 2*hi), want: seccompRetEPERM},
		{name: "gt above by high, low smaller", nr: 10, args: a(5, 2*hi), want: seccompRetAllow},
		{name: "gt above by low", nr: 10, args: a(5, hi|6), want: seccompRetAllow},
		{name: "gt equal", nr: 10, args: a(5, hi|5), want: seccompRetEPERM},
		{name: "gt below by high, low larger", nr: 10, args: a(5, 0xffffffff), want: seccompRetEPERM},
		{name: "le equal", nr: 11, args: a(3, hi|5), want: seccompRetAllow},
		{name: "le above by low", nr: 11, args: a(3, hi|6), want: seccompRetEPERM},
		{name: "le below by high", nr: 11, args: a(3, 0xffffffff), want: seccompRetAllow},
		{name: "ge equal", nr: 500, args: a(4, hi|5), want: seccompRetAllow},
		{name: "ge below by low", nr: 500, args: a(4, hi|4), want: seccompRetEPERM},
		{name: "ge above by high", nr: 500, args: a(4, 2*hi), want: seccompRetAllow},
		{name: "ge wrong argument", nr: 500, args: a(3, 2*hi), want: seccompRetEPERM},
	})
}

func TestSeccompCompileRuleCombination(t *testing.T) {
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		// different arguments: all must hold
		seccompAllowIf("zero", seccompArg(0, specs.OpEqualTo, 1, 0), seccompArg(1, specs.OpEqualTo, 2, 0)),
		// the same argument twice: either may hold (runc's rule)
		seccompAllowIf("one", seccompArg(0, specs.OpEqualTo, 1, 0), seccompArg(0, specs.OpEqualTo, 2, 0)),
		// separate entries: either may hold
		seccompAllowIf("two", seccompArg(0, specs.OpEqualTo, 7, 0)),
		seccompAllowIf("two", seccompArg(0, specs.OpEqualTo, 8, 0)),
		// an unconditional rule beats a conditional one
		seccompAllowIf("three", seccompArg(0, specs.OpEqualTo, 7, 0)),
		seccompAllow("three"),
		// first matching conditional rule wins
		{Names: []string{"ten"}, Action: specs.ActErrno, ErrnoRet: errnoPtr(uint(unix.EACCES)), Args: []specs.LinuxSeccompArg{seccompArg(0, specs.OpEqualTo, 1, 0)}},
		seccompAllowIf("ten", seccompArg(0, specs.OpLessEqual, 5, 0)),
	}}
	prog := mustCompileSeccomp(t, p, seccompTestArch())
	checkSeccompCalls(t, prog, []seccompCall{
		{name: "and both", nr: 0, args: [6]uint64{1, 2}, want: seccompRetAllow},
		{name: "and one", nr: 0, args: [6]uint64{1, 3}, want: seccompRetEPERM},
		{name: "or first", nr: 1, args: [6]uint64{1}, want: seccompRetAllow},
		{name: "or second", nr: 1, args: [6]uint64{2}, want: seccompRetAllow},
		{name: "or neither", nr: 1, args: [6]uint64{3}, want: seccompRetEPERM},
		{name: "entries first", nr: 2, args: [6]uint64{7}, want: seccompRetAllow},
		{name: "entries second", nr: 2, args: [6]uint64{8}, want: seccompRetAllow},
		{name: "entries neither", nr: 2, args: [6]uint64{9}, want: seccompRetEPERM},
		{name: "unconditional", nr: 3, args: [6]uint64{99}, want: seccompRetAllow},
		{name: "first match", nr: 10, args: [6]uint64{1}, want: unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)},
		{name: "second match", nr: 10, args: [6]uint64{2}, want: seccompRetAllow},
		{name: "no match", nr: 10, args: [6]uint64{6}, want: seccompRetEPERM},
	})
}

func TestSeccompCompileRejects(t *testing.T) {
	for name, s := range map[string]specs.LinuxSyscall{
		"notify":    {Names: []string{"zero"}, Action: specs.ActNotify},
		"bad index": seccompAllowIf("zero", seccompArg(6, specs.OpEqualTo, 0, 0)),
		"bad op":    seccompAllowIf("zero", seccompArg(0, "SCMP_CMP_SOMETHING", 0, 0)),
	} {
		p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{s}}
		if _, err := compileSeccomp(p, seccompTestArch()); err == nil {
			t.Errorf("%s: compiled, want an error", name)
		}
	}
}

// TestSeccompCompileRandom checks the binary search against a direct lookup
// for random sets of syscalls, including long runs and large numbers, so
// that every shape of the search tree and far jumps are exercised.
func TestSeccompCompileRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for round := 0; round < 200; round++ {
		arch := &seccompArch{name: "rand", audit: unix.AUDIT_ARCH_X86_64, syscalls: map[string]uint32{}}
		want := map[uint32]uint32{}
		conditional := map[uint32]bool{}
		p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno}
		for i := 0; i < 1+rng.Intn(400); i++ {
			nr := uint32(rng.Intn(600))
			if rng.Intn(20) == 0 {
				nr = rng.Uint32()
			}
			name := string(rune('a'+i%26)) + string(rune('a'+i/26))
			arch.syscalls[name] = nr
			if _, dup := want[nr]; dup {
				continue
			}
			errno := uint(rng.Intn(3))
			want[nr] = unix.SECCOMP_RET_ERRNO | uint32(errno)
			p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{Names: []string{name}, Action: specs.ActErrno, ErrnoRet: &errno})
			if errno == 0 && rng.Intn(2) == 0 { // some conditional ones, allowed when arg 0 == nr
				want[nr] = seccompRetEPERM
				conditional[nr] = true
				p.Syscalls[len(p.Syscalls)-1] = seccompAllowIf(name, seccompArg(0, specs.OpEqualTo, uint64(nr), 0))
			}
		}
		prog := mustCompileSeccomp(t, p, arch)
		for i := 0; i < 300; i++ {
			nr := uint32(rng.Intn(620))
			if i%10 == 0 {
				nr = rng.Uint32()
			}
			w, ok := want[nr]
			if !ok {
				w = seccompRetEPERM
			}
			got := evalSeccomp(t, prog, seccompData{nr: nr, arch: unix.AUDIT_ARCH_X86_64})
			if got != w {
				t.Fatalf("round %d nr %d: got %#x want %#x", round, nr, got, w)
			}
			if conditional[nr] {
				got = evalSeccomp(t, prog, seccompData{nr: nr, arch: unix.AUDIT_ARCH_X86_64, args: [6]uint64{uint64(nr)}})
				if got != seccompRetAllow {
					t.Fatalf("round %d nr %d with its condition: got %#x want allow", round, nr, got)
				}
			}
		}
	}
}
