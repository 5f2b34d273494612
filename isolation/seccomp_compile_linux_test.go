package isolation

import (
	"math/rand"
	"testing"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

const (
	retAllow = unix.SECCOMP_RET_ALLOW
	retEPERM = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	retKill  = unix.SECCOMP_RET_KILL_PROCESS
)

// testArch is a small made-up architecture for the compiler's unit tests.
func testArch() *seccompArch {
	return &seccompArch{name: "test", audit: unix.AUDIT_ARCH_X86_64, x32: true, syscalls: map[string]uint32{
		"zero": 0, "one": 1, "two": 2, "three": 3, "ten": 10, "eleven": 11, "big": 500, "max": 0x3fffffff,
	}}
}

func uptr(v uint) *uint { return &v }

func allow(names ...string) specs.LinuxSyscall {
	return specs.LinuxSyscall{Names: names, Action: specs.ActAllow}
}

func allowIf(name string, args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
	return specs.LinuxSyscall{Names: []string{name}, Action: specs.ActAllow, Args: args}
}

func arg(i uint, op specs.LinuxSeccompOperator, v, v2 uint64) specs.LinuxSeccompArg {
	return specs.LinuxSeccompArg{Index: i, Op: op, Value: v, ValueTwo: v2}
}

func mustCompile(t testing.TB, p *specs.LinuxSeccomp, arch *seccompArch) []unix.SockFilter {
	t.Helper()
	prog, err := compileSeccomp(p, arch)
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

func eval(t *testing.T, prog []unix.SockFilter, d seccompData) uint32 {
	t.Helper()
	ret, err := runBPF(prog, d)
	if err != nil {
		t.Fatalf("run filter on %+v: %v", d, err)
	}
	return ret
}

// call is one input for a filter with the expected verdict.
type call struct {
	name string
	nr   uint32
	args [6]uint64
	want uint32
}

func checkCalls(t *testing.T, prog []unix.SockFilter, calls []call) {
	t.Helper()
	for _, c := range calls {
		d := seccompData{nr: c.nr, arch: unix.AUDIT_ARCH_X86_64, args: c.args}
		if got := eval(t, prog, d); got != c.want {
			t.Errorf("%s: nr %d args %#x: got %#x, want %#x", c.name, c.nr, c.args, got, c.want)
		}
	}
}

func TestSeccompCompileActionsAndArch(t *testing.T) {
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		allow("zero", "two", "ten", "max", "not-in-table"),
		{Names: []string{"three"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.ENOSYS))},
		{Names: []string{"big"}, Action: specs.ActKillProcess},
	}}
	prog := mustCompile(t, p, testArch())
	checkCalls(t, prog, []call{
		{name: "allowed 0", nr: 0, want: retAllow},
		{name: "default 1", nr: 1, want: retEPERM},
		{name: "allowed 2", nr: 2, want: retAllow},
		{name: "errnoRet", nr: 3, want: unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)},
		{name: "gap", nr: 4, want: retEPERM},
		{name: "allowed 10", nr: 10, want: retAllow},
		{name: "default 11", nr: 11, want: retEPERM},
		{name: "kill", nr: 500, want: retKill},
		{name: "top of the native range", nr: 0x3fffffff, want: retAllow},
		{name: "x32 bit", nr: x32SyscallBit | 2, want: retKill},
		{name: "-1", nr: 0xffffffff, want: retKill},
	})
	d := seccompData{nr: 0, arch: unix.AUDIT_ARCH_I386}
	if got := eval(t, prog, d); got != retKill {
		t.Errorf("foreign arch: got %#x, want kill", got)
	}
	arm := testArch()
	arm.x32 = false
	prog = mustCompile(t, p, arm)
	checkCalls(t, prog, []call{{name: "no x32 check", nr: 0xffffffff, want: retEPERM}})
}

func TestSeccompCompileConditions(t *testing.T) {
	const hi = 1 << 32
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		allowIf("zero", arg(0, specs.OpEqualTo, hi|5, 0)),
		allowIf("one", arg(1, specs.OpNotEqual, hi|5, 0)),
		allowIf("two", arg(2, specs.OpMaskedEqual, 0xff000000_000000f0, 0x12000000_00000030)),
		allowIf("three", arg(0, specs.OpLessThan, hi|5, 0)),
		allowIf("ten", arg(5, specs.OpGreaterThan, hi|5, 0)),
		allowIf("eleven", arg(3, specs.OpLessEqual, hi|5, 0)),
		allowIf("big", arg(4, specs.OpGreaterEqual, hi|5, 0)),
	}}
	prog := mustCompile(t, p, testArch())
	a := func(i int, v uint64) (out [6]uint64) { out[i] = v; return out }
	checkCalls(t, prog, []call{
		{name: "eq", nr: 0, args: a(0, hi|5), want: retAllow},
		{name: "eq low half only", nr: 0, args: a(0, 5), want: retEPERM},
		{name: "eq high half only", nr: 0, args: a(0, hi|6), want: retEPERM},
		{name: "ne equal", nr: 1, args: a(1, hi|5), want: retEPERM},
		{name: "ne low differs", nr: 1, args: a(1, hi|4), want: retAllow},
		{name: "ne high differs", nr: 1, args: a(1, 5), want: retAllow},
		{name: "masked match", nr: 2, args: a(2, 0x12345678_9abcde3f), want: retAllow},
		{name: "masked low differs", nr: 2, args: a(2, 0x12345678_9abcde4f), want: retEPERM},
		{name: "masked high differs", nr: 2, args: a(2, 0x13345678_9abcde3f), want: retEPERM},
		{name: "lt below by high", nr: 3, args: a(0, 0xffffffff), want: retAllow},
		{name: "lt below by low", nr: 3, args: a(0, hi|4), want: retAllow},
		{name: "lt equal", nr: 3, args: a(0, hi|5), want: retEPERM},
		{name: "lt above by high", nr: 3, args: a(0, 2*hi), want: retEPERM},
		{name: "gt above by high, low smaller", nr: 10, args: a(5, 2*hi), want: retAllow},
		{name: "gt above by low", nr: 10, args: a(5, hi|6), want: retAllow},
		{name: "gt equal", nr: 10, args: a(5, hi|5), want: retEPERM},
		{name: "gt below by high, low larger", nr: 10, args: a(5, 0xffffffff), want: retEPERM},
		{name: "le equal", nr: 11, args: a(3, hi|5), want: retAllow},
		{name: "le above by low", nr: 11, args: a(3, hi|6), want: retEPERM},
		{name: "le below by high", nr: 11, args: a(3, 0xffffffff), want: retAllow},
		{name: "ge equal", nr: 500, args: a(4, hi|5), want: retAllow},
		{name: "ge below by low", nr: 500, args: a(4, hi|4), want: retEPERM},
		{name: "ge above by high", nr: 500, args: a(4, 2*hi), want: retAllow},
		{name: "ge wrong argument", nr: 500, args: a(3, 2*hi), want: retEPERM},
	})
}

func TestSeccompCompileRuleCombination(t *testing.T) {
	p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{
		// different arguments: all must hold
		allowIf("zero", arg(0, specs.OpEqualTo, 1, 0), arg(1, specs.OpEqualTo, 2, 0)),
		// the same argument twice: either may hold (runc's rule)
		allowIf("one", arg(0, specs.OpEqualTo, 1, 0), arg(0, specs.OpEqualTo, 2, 0)),
		// separate entries: either may hold
		allowIf("two", arg(0, specs.OpEqualTo, 7, 0)),
		allowIf("two", arg(0, specs.OpEqualTo, 8, 0)),
		// an unconditional rule beats a conditional one
		allowIf("three", arg(0, specs.OpEqualTo, 7, 0)),
		allow("three"),
		// first matching conditional rule wins
		{Names: []string{"ten"}, Action: specs.ActErrno, ErrnoRet: uptr(uint(unix.EACCES)), Args: []specs.LinuxSeccompArg{arg(0, specs.OpEqualTo, 1, 0)}},
		allowIf("ten", arg(0, specs.OpLessEqual, 5, 0)),
	}}
	prog := mustCompile(t, p, testArch())
	checkCalls(t, prog, []call{
		{name: "and both", nr: 0, args: [6]uint64{1, 2}, want: retAllow},
		{name: "and one", nr: 0, args: [6]uint64{1, 3}, want: retEPERM},
		{name: "or first", nr: 1, args: [6]uint64{1}, want: retAllow},
		{name: "or second", nr: 1, args: [6]uint64{2}, want: retAllow},
		{name: "or neither", nr: 1, args: [6]uint64{3}, want: retEPERM},
		{name: "entries first", nr: 2, args: [6]uint64{7}, want: retAllow},
		{name: "entries second", nr: 2, args: [6]uint64{8}, want: retAllow},
		{name: "entries neither", nr: 2, args: [6]uint64{9}, want: retEPERM},
		{name: "unconditional", nr: 3, args: [6]uint64{99}, want: retAllow},
		{name: "first match", nr: 10, args: [6]uint64{1}, want: unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)},
		{name: "second match", nr: 10, args: [6]uint64{2}, want: retAllow},
		{name: "no match", nr: 10, args: [6]uint64{6}, want: retEPERM},
	})
}

func TestSeccompCompileRejects(t *testing.T) {
	for name, s := range map[string]specs.LinuxSyscall{
		"notify":    {Names: []string{"zero"}, Action: specs.ActNotify},
		"bad index": allowIf("zero", arg(6, specs.OpEqualTo, 0, 0)),
		"bad op":    allowIf("zero", arg(0, "SCMP_CMP_SOMETHING", 0, 0)),
	} {
		p := &specs.LinuxSeccomp{DefaultAction: specs.ActErrno, Syscalls: []specs.LinuxSyscall{s}}
		if _, err := compileSeccomp(p, testArch()); err == nil {
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
				want[nr] = retEPERM
				conditional[nr] = true
				p.Syscalls[len(p.Syscalls)-1] = allowIf(name, arg(0, specs.OpEqualTo, uint64(nr), 0))
			}
		}
		prog := mustCompile(t, p, arch)
		for i := 0; i < 300; i++ {
			nr := uint32(rng.Intn(620))
			if i%10 == 0 {
				nr = rng.Uint32()
			}
			w, ok := want[nr]
			if !ok {
				w = retEPERM
			}
			got := eval(t, prog, seccompData{nr: nr, arch: unix.AUDIT_ARCH_X86_64})
			if got != w {
				t.Fatalf("round %d nr %d: got %#x want %#x", round, nr, got, w)
			}
			if conditional[nr] {
				got = eval(t, prog, seccompData{nr: nr, arch: unix.AUDIT_ARCH_X86_64, args: [6]uint64{uint64(nr)}})
				if got != retAllow {
					t.Fatalf("round %d nr %d with its condition: got %#x want allow", round, nr, got)
				}
			}
		}
	}
}
