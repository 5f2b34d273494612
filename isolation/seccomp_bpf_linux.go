package isolation

import (
	"fmt"

	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Classic BPF instructions the compiler emits (linux/filter.h).
const (
	bpfLdAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	bpfAndK   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	bpfJa     = unix.BPF_JMP | unix.BPF_JA
	bpfJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	bpfJgtK   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	bpfJgeK   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	bpfRetK   = unix.BPF_RET | unix.BPF_K
)

// Offsets in struct seccomp_data. Arguments are 64-bit; the tables cover
// little-endian architectures only, where the low half comes first.
const (
	seccompDataNr   = 0
	seccompDataArch = 4
	seccompDataArgs = 16
)

// bpfMaxInsns is the kernel's limit on a filter's length (BPF_MAXINSNS).
const bpfMaxInsns = 4096

// compileSeccomp compiles a specialised profile to a classic BPF seccomp
// filter for arch. The program checks the architecture (anything else, and
// x32 syscalls on amd64, kill the process), then binary-searches the
// syscall number over ranges of equal outcome, and for syscalls with
// argument conditions tests them rule by rule.
func compileSeccomp(p *specs.LinuxSeccomp, arch *seccompArch) ([]unix.SockFilter, error) {
	plan, err := planSeccomp(p, arch)
	if err != nil {
		return nil, err
	}
	a := &bpfAsm{}
	a.stmt(bpfLdAbsW, seccompDataArch)
	a.jump(bpfJeqK, arch.audit, 1, 0)
	a.stmt(bpfRetK, unix.SECCOMP_RET_KILL_PROCESS)
	a.stmt(bpfLdAbsW, seccompDataNr)
	if arch.x32 {
		// x32 numbers kill, except -1 (a tracer's "skip this syscall"),
		// which gets the default action, as with libseccomp.
		a.jump(bpfJgeK, x32SyscallBit, 0, 2)
		a.jump(bpfJeqK, ^uint32(0), 1, 0)
		a.stmt(bpfRetK, unix.SECCOMP_RET_KILL_PROCESS)
	}
	a.tree(plan.ranges(), plan.defaultAction)
	prog, err := a.resolve()
	if err != nil {
		return nil, err
	}
	if len(prog) > bpfMaxInsns {
		return nil, fmt.Errorf("filter has %d instructions, more than the kernel's %d", len(prog), bpfMaxInsns)
	}
	return prog, nil
}

// bpfAsm assembles classic BPF with forward labels. Conditional jumps take
// offsets 0 or 1 (plain numbers) or labels (label refs, resolved later, must
// be within 255); ja takes a label at any distance.
type bpfAsm struct {
	insns  []unix.SockFilter
	labels []int // label -> pc, -1 until bound
	refs   []bpfRef
}

// bpfRef is a use of a label by the instruction at pc, in field jt, jf or k.
type bpfRef struct {
	pc    int
	field byte
	label int
}

// bpfLabel marks a jump target given to jumpTo, as opposed to a 0/1 offset.
type bpfLabel int

func (a *bpfAsm) stmt(code uint16, k uint32) {
	a.insns = append(a.insns, unix.SockFilter{Code: code, K: k})
}

func (a *bpfAsm) jump(code uint16, k uint32, jt, jf uint8) {
	a.insns = append(a.insns, unix.SockFilter{Code: code, K: k, Jt: jt, Jf: jf})
}

// jumpTo emits a conditional jump whose targets are labels, or nil for the
// next instruction.
func (a *bpfAsm) jumpTo(code uint16, k uint32, jt, jf *bpfLabel) {
	pc := len(a.insns)
	a.jump(code, k, 0, 0)
	if jt != nil {
		a.refs = append(a.refs, bpfRef{pc: pc, field: 't', label: int(*jt)})
	}
	if jf != nil {
		a.refs = append(a.refs, bpfRef{pc: pc, field: 'f', label: int(*jf)})
	}
}

func (a *bpfAsm) ja(l bpfLabel) {
	a.refs = append(a.refs, bpfRef{pc: len(a.insns), field: 'k', label: int(l)})
	a.stmt(bpfJa, 0)
}

func (a *bpfAsm) newLabel() *bpfLabel {
	a.labels = append(a.labels, -1)
	l := bpfLabel(len(a.labels) - 1)
	return &l
}

func (a *bpfAsm) bind(l *bpfLabel) { a.labels[*l] = len(a.insns) }

// resolve fills in every label reference.
func (a *bpfAsm) resolve() ([]unix.SockFilter, error) {
	for _, r := range a.refs {
		target := a.labels[r.label]
		off := target - r.pc - 1
		if target < 0 || off < 0 {
			return nil, fmt.Errorf("internal error: label %d unbound or backwards", r.label)
		}
		switch {
		case r.field == 'k':
			a.insns[r.pc].K = uint32(off)
		case off > 255:
			return nil, fmt.Errorf("internal error: conditional jump of %d instructions", off)
		case r.field == 't':
			a.insns[r.pc].Jt = uint8(off)
		default:
			a.insns[r.pc].Jf = uint8(off)
		}
	}
	return a.insns, nil
}

// tree emits a binary search over ranges (sorted, covering all numbers from
// ranges[0].lo; the syscall number is in A). Each node is "jge mid" followed
// by either the right half's return or a ja to it, then the left half; so
// conditional jumps never span more than one instruction.
func (a *bpfAsm) tree(rs []seccompRange, def uint32) {
	if len(rs) == 1 {
		a.leaf(rs[0], def)
		return
	}
	mid := len(rs) / 2
	a.jump(bpfJgeK, rs[mid].lo, 0, 1)
	if right := rs[mid:]; len(right) == 1 && right[0].rules == nil {
		a.stmt(bpfRetK, right[0].action)
		a.tree(rs[:mid], def)
		return
	}
	right := a.newLabel()
	a.ja(*right)
	a.tree(rs[:mid], def)
	a.bind(right)
	a.tree(rs[mid:], def)
}

// leaf emits the outcome of one range: its action, or its syscall's rules
// tried in order and then the default action.
func (a *bpfAsm) leaf(r seccompRange, def uint32) {
	if r.rules == nil {
		a.stmt(bpfRetK, r.action)
		return
	}
	for _, rule := range r.rules {
		next := a.newLabel()
		for _, c := range rule.conds {
			a.cond(c, next)
		}
		a.stmt(bpfRetK, rule.action)
		a.bind(next)
	}
	a.stmt(bpfRetK, def)
}
