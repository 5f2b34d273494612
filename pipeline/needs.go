package pipeline

import (
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// resolveNeeds turns each step's needs into step indexes: a plain name means
// every expansion of that step, a full name one expansion.
func (ps *parser) resolveNeeds(x *expansion) {
	x.deps = make([][]int, len(ps.p.Steps))
	x.nodes = make([][]*yaml.Node, len(ps.p.Steps))
	for i, s := range ps.p.Steps {
		if len(x.needs[i]) == 0 {
			continue
		}
		var deps []int
		nodes := map[int]*yaml.Node{}
		for _, t := range x.needs[i] {
			for _, d := range ps.need(x, s, t) {
				if _, dup := nodes[d]; !dup {
					nodes[d] = t.n
					deps = append(deps, d)
				}
			}
		}
		slices.Sort(deps)
		x.deps[i] = deps
		x.nodes[i] = make([]*yaml.Node, len(deps))
		s.Needs = make([]string, len(deps))
		for j, d := range deps {
			x.nodes[i][j] = nodes[d]
			s.Needs[j] = ps.p.Steps[d].Name
		}
	}
}

// need resolves one entry of a step's needs.
func (ps *parser) need(x *expansion, s *Step, t text) []int {
	field := s.Base + ".needs"
	if t.s == s.Name || t.s == s.Base {
		ps.errorf(t.n, "remove it", "%s: step %s needs itself", field, quote(t.s))
		return nil
	}
	if i, ok := x.index[t.s]; ok {
		return []int{i}
	}
	if all, ok := x.bases[t.s]; ok {
		return all
	}
	base, _, isExp := strings.Cut(t.s, "[")
	if all, ok := x.bases[base]; ok && isExp {
		ps.errorf(t.n, "its expansions are "+ps.listNames(all), "%s: step %s has no expansion %s", field, base, quote(t.s))
		return nil
	}
	ps.errorf(t.n, ps.suggestHint(t.s, ps.baseNames(x), "name a step of this file"), "%s: unknown step %s", field, quote(t.s))
	return nil
}

func (ps *parser) baseNames(x *expansion) []string {
	out := make([]string, len(x.raws))
	for i, r := range x.raws {
		out[i] = r.name
	}
	return out
}

// listNames lists at most 5 step names, for a hint.
func (ps *parser) listNames(idx []int) string {
	var names []string
	for i, j := range idx {
		if i == 5 {
			names = append(names, "...")
			break
		}
		names = append(names, ps.p.Steps[j].Name)
	}
	return strings.Join(names, ", ")
}

// cycle reports one cycle, given as step indexes in needs order
// (c[0] needs c[1] ... needs c[0]), at the need that starts it.
func (ps *parser) cycle(x *expansion, c []int) {
	names := make([]string, 0, len(c)+1)
	for _, i := range c {
		names = append(names, ps.p.Steps[i].Name)
	}
	names = append(names, names[0])
	first := ps.p.Steps[c[0]]
	n := x.nodes[c[0]][slices.Index(x.deps[c[0]], c[1%len(c)])]
	ps.errorf(n, "a step cannot depend on itself through others: remove one of these needs",
		"%s.needs: cycle: %s", first.Base, strings.Join(names, " -> "))
}
