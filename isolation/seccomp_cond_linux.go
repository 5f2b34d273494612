package isolation

import "github.com/opencontainers/runtime-spec/specs-go"

// cond emits a 64-bit argument comparison as two 32-bit ones (high half
// first), falling through when it holds and jumping to fail when it does not.
// It clobbers A (the syscall number is not needed after the search).
func (a *bpfAsm) cond(c seccompCond, fail *bpfLabel) {
	lo := uint32(seccompDataArgs + 8*c.arg)
	hi := lo + 4
	vl, vh := uint32(c.value), uint32(c.value>>32)
	pass := a.newLabel()
	switch c.op {
	case specs.OpEqualTo:
		a.stmt(bpfLdAbsW, hi)
		a.jumpTo(bpfJeqK, vh, nil, fail)
		a.stmt(bpfLdAbsW, lo)
		a.jumpTo(bpfJeqK, vl, nil, fail)
	case specs.OpNotEqual:
		a.stmt(bpfLdAbsW, hi)
		a.jumpTo(bpfJeqK, vh, nil, pass)
		a.stmt(bpfLdAbsW, lo)
		a.jumpTo(bpfJeqK, vl, fail, nil)
	case specs.OpMaskedEqual:
		a.maskedEq(hi, vh, uint32(c.valueTwo>>32), fail)
		a.maskedEq(lo, vl, uint32(c.valueTwo), fail)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		// hi > vh: holds; hi < vh: fails; equal: decided by the low half.
		a.stmt(bpfLdAbsW, hi)
		a.jumpTo(bpfJgtK, vh, pass, nil)
		a.jumpTo(bpfJeqK, vh, nil, fail)
		a.stmt(bpfLdAbsW, lo)
		a.jumpTo(lowJump(c.op), vl, nil, fail)
	case specs.OpLessThan, specs.OpLessEqual:
		// hi > vh: fails; hi < vh: holds; equal: decided by the low half.
		a.stmt(bpfLdAbsW, hi)
		a.jumpTo(bpfJgtK, vh, fail, nil)
		a.jumpTo(bpfJeqK, vh, nil, pass)
		a.stmt(bpfLdAbsW, lo)
		a.jumpTo(lowJump(c.op), vl, fail, nil)
	}
	a.bind(pass)
}

// maskedEq emits: (word at off & mask) == want, else jump to fail.
func (a *bpfAsm) maskedEq(off, mask, want uint32, fail *bpfLabel) {
	a.stmt(bpfLdAbsW, off)
	a.stmt(bpfAndK, mask)
	a.jumpTo(bpfJeqK, want, nil, fail)
}

// lowJump is the jump on the low half: for > and <= it is jgt (> holds when
// it is taken, <= fails), for >= and < it is jge.
func lowJump(op specs.LinuxSeccompOperator) uint16 {
	if op == specs.OpGreaterThan || op == specs.OpLessEqual {
		return bpfJgtK
	}
	return bpfJgeK
}
