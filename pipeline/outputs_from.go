package pipeline

import "slices"

// resolveOutputsFrom turns each step's outputs_from into step names: a
// plain name means every expansion of that step, a full name one
// expansion; each must be a step it needs, directly or not.
func (ps *parser) resolveOutputsFrom(x *expansion) {
	for i, s := range ps.p.Steps {
		r := x.rawOf[i]
		if r.from == nil {
			continue
		}
		above := ps.ancestors(x, i)
		s.OutputsFrom = []string{}
		for _, t := range r.from {
			for _, d := range ps.fromRef(x, s, t) {
				switch {
				case !above[d]:
					ps.errorf(t.n, "list steps it needs (directly or not), or add them to needs", "%s.outputs_from: %s is not a step %s needs", s.Base, quote(ps.p.Steps[d].Name), s.Name)
				case !slices.Contains(s.OutputsFrom, ps.p.Steps[d].Name):
					s.OutputsFrom = append(s.OutputsFrom, ps.p.Steps[d].Name)
				}
			}
		}
	}
}

// fromRef resolves one entry of outputs_from.
func (ps *parser) fromRef(x *expansion, s *Step, t text) []int {
	if i, ok := x.index[t.s]; ok {
		return []int{i}
	}
	if all, ok := x.bases[t.s]; ok {
		return all
	}
	ps.errorf(t.n, ps.suggestHint(t.s, ps.baseNames(x), "name a step of this file"), "%s.outputs_from: unknown step %s", s.Base, quote(t.s))
	return nil
}

// ancestors returns the steps step i needs, directly or not.
func (ps *parser) ancestors(x *expansion, i int) map[int]bool {
	seen := map[int]bool{}
	stack := append([]int(nil), x.deps[i]...)
	for len(stack) > 0 {
		j := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[j] {
			continue
		}
		seen[j] = true
		stack = append(stack, x.deps[j]...)
	}
	return seen
}
