package isolation

import (
	"fmt"
	"sort"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// seccompArch describes one architecture for the seccomp compiler.
type seccompArch struct {
	name     string            // GOARCH
	audit    uint32            // AUDIT_ARCH_* the kernel puts in seccomp_data.arch
	x32      bool              // kill syscalls with __X32_SYSCALL_BIT (amd64's x32 ABI)
	syscalls map[string]uint32 // name -> number
}

// x32SyscallBit marks x32 ABI syscall numbers on amd64.
const x32SyscallBit = 0x40000000

// seccompCond is one argument comparison: arg OP value, or for
// SCMP_CMP_MASKED_EQ (arg & value) == valueTwo. All 64 bits are compared.
type seccompCond struct {
	arg      uint
	op       specs.LinuxSeccompOperator
	value    uint64
	valueTwo uint64
}

// seccompRule returns action when every condition holds (always, when there
// are none).
type seccompRule struct {
	action uint32
	conds  []seccompCond
}

// seccompPlan is a profile resolved to numbers for one architecture: the
// rules of each syscall, in profile order, and the action for everything else.
type seccompPlan struct {
	defaultAction uint32
	syscalls      map[uint32][]seccompRule
}

// planSeccomp resolves names, actions and conditions of an already
// specialised profile. Names missing from the architecture's table are
// skipped, as libseccomp does.
func planSeccomp(p *specs.LinuxSeccomp, arch *seccompArch) (*seccompPlan, error) {
	def, err := seccompAction(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("default action: %w", err)
	}
	plan := &seccompPlan{defaultAction: def, syscalls: map[uint32][]seccompRule{}}
	for _, s := range p.Syscalls {
		act, err := seccompAction(s.Action, s.ErrnoRet)
		if err != nil {
			return nil, fmt.Errorf("syscalls %v: %w", s.Names, err)
		}
		rules, err := seccompRules(act, s.Args)
		if err != nil {
			return nil, fmt.Errorf("syscalls %v: %w", s.Names, err)
		}
		for _, name := range s.Names {
			if nr, ok := arch.syscalls[name]; ok {
				plan.syscalls[nr] = append(plan.syscalls[nr], rules...)
			}
		}
	}
	return plan, nil
}

// seccompAction turns a profile action into a SECCOMP_RET_* value. ERRNO
// without errnoRet means EPERM, as in runc.
func seccompAction(a specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	switch a {
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActErrno:
		errno := uint32(unix.EPERM)
		if errnoRet != nil {
			errno = uint32(*errnoRet)
		}
		return unix.SECCOMP_RET_ERRNO | errno&unix.SECCOMP_RET_DATA, nil
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	case specs.ActTrace:
		errno := uint32(unix.ENOSYS)
		if errnoRet != nil {
			errno = uint32(*errnoRet)
		}
		return unix.SECCOMP_RET_TRACE | errno&unix.SECCOMP_RET_DATA, nil
	}
	return 0, fmt.Errorf("seccomp action %q is not supported", a)
}

// seccompRules turns one profile entry's arguments into rules. Like runc,
// the conditions form one rule (all must hold) unless two of them test the
// same argument: then each condition is a rule of its own (any may hold).
func seccompRules(action uint32, args []specs.LinuxSeccompArg) ([]seccompRule, error) {
	conds := make([]seccompCond, 0, len(args))
	seen := map[uint]bool{}
	repeated := false
	for _, a := range args {
		c, err := seccompCondition(a)
		if err != nil {
			return nil, err
		}
		repeated = repeated || seen[c.arg]
		seen[c.arg] = true
		conds = append(conds, c)
	}
	if !repeated {
		return []seccompRule{{action: action, conds: conds}}, nil
	}
	rules := make([]seccompRule, len(conds))
	for i, c := range conds {
		rules[i] = seccompRule{action: action, conds: []seccompCond{c}}
	}
	return rules, nil
}

// seccompCondition checks one argument comparison.
func seccompCondition(a specs.LinuxSeccompArg) (seccompCond, error) {
	if a.Index > 5 {
		return seccompCond{}, fmt.Errorf("argument index %d out of range 0-5", a.Index)
	}
	switch a.Op {
	case specs.OpEqualTo, specs.OpNotEqual, specs.OpLessThan, specs.OpLessEqual,
		specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpMaskedEqual:
	default:
		return seccompCond{}, fmt.Errorf("argument operator %q is not supported", a.Op)
	}
	return seccompCond{arg: a.Index, op: a.Op, value: a.Value, valueTwo: a.ValueTwo}, nil
}

// seccompRange is a run of syscall numbers starting at lo (up to the next
// range's lo) that share one outcome: a fixed action, or the rules of the
// single syscall lo.
type seccompRange struct {
	lo     uint32
	action uint32
	rules  []seccompRule // non-nil: conditional, for syscall lo only
}

// ranges covers all 2^32 syscall numbers, sorted, with neighbours of equal
// fixed action merged. A syscall whose rules include an unconditional one
// gets that rule's action (libseccomp: the broader rule wins); conditional
// rules keep their profile order, the first match wins.
func (p *seccompPlan) ranges() []seccompRange {
	nrs := make([]uint32, 0, len(p.syscalls))
	for nr := range p.syscalls {
		nrs = append(nrs, nr)
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })
	var out []seccompRange
	add := func(r seccompRange) {
		if n := len(out); n > 0 && out[n-1].lo == r.lo {
			out = out[:n-1] // a syscall right after another replaces the gap
		}
		if n := len(out); n > 0 && r.rules == nil && out[n-1].rules == nil && out[n-1].action == r.action {
			return
		}
		out = append(out, r)
	}
	add(seccompRange{lo: 0, action: p.defaultAction})
	for _, nr := range nrs {
		add(p.rangeOf(nr))
		if nr != ^uint32(0) {
			add(seccompRange{lo: nr + 1, action: p.defaultAction})
		}
	}
	return out
}

// rangeOf is the outcome of one syscall with rules.
func (p *seccompPlan) rangeOf(nr uint32) seccompRange {
	rules := p.syscalls[nr]
	for _, r := range rules {
		if len(r.conds) == 0 {
			return seccompRange{lo: nr, action: r.action}
		}
	}
	return seccompRange{lo: nr, rules: rules}
}
