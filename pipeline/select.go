package pipeline

import (
	"fmt"
	"slices"
	"strings"
)

// Len returns the number of steps.
func (g *Graph) Len() int { return len(g.steps) }

// Edges returns the number of edges (needs) between steps.
func (g *Graph) Edges() int { return g.edges }

// Steps returns the steps in file order.
func (g *Graph) Steps() []*Step { return slices.Clone(g.steps) }

// Step returns the step with this exact name, or nil.
func (g *Graph) Step(name string) *Step {
	if i, ok := g.index[name]; ok {
		return g.steps[i]
	}
	return nil
}

// Order returns the steps in topological order: each after all it needs, and
// among steps that are ready at the same time, the first in the file first.
func (g *Graph) Order() []*Step { return g.pick(g.order) }

// Levels returns the steps by level: level 0 needs nothing, level n needs
// something at level n-1 and nothing higher. Steps of one level can run
// together; within a level steps are in file order.
func (g *Graph) Levels() [][]*Step {
	out := make([][]*Step, len(g.levels))
	for i, l := range g.levels {
		out[i] = g.pick(l)
	}
	return out
}

// Deps returns the steps that the named step needs directly, in file order;
// nil for an unknown name.
func (g *Graph) Deps(name string) []*Step {
	if i, ok := g.index[name]; ok {
		return g.pick(g.deps[i])
	}
	return nil
}

// Dependents returns the steps that need the named step directly, in file
// order; nil for an unknown name.
func (g *Graph) Dependents(name string) []*Step {
	if i, ok := g.index[name]; ok {
		return g.pick(g.dependents[i])
	}
	return nil
}

func (g *Graph) pick(idx []int) []*Step {
	out := make([]*Step, len(idx))
	for i, j := range idx {
		out[i] = g.steps[j]
	}
	return out
}

// UnknownStepError is returned by Lookup and Select for a name that is no
// step of the pipeline.
type UnknownStepError struct {
	Name       string
	Suggestion string // the closest step name, or ""
}

func (e *UnknownStepError) Error() string {
	if e.Suggestion != "" {
		return fmt.Sprintf("no step %q in the pipeline (did you mean %q?)", e.Name, e.Suggestion)
	}
	return fmt.Sprintf("no step %q in the pipeline (pipe graph lists the steps)", e.Name)
}

// Lookup returns the steps a name on the command line means: the step of
// that exact name, or all expansions of a matrix step given by its base
// name ("test" for test[go=1.21] and test[go=1.22]).
func (g *Graph) Lookup(name string) ([]*Step, error) {
	if i, ok := g.index[name]; ok {
		return []*Step{g.steps[i]}, nil
	}
	if idx, ok := g.bases[name]; ok {
		return g.pick(idx), nil
	}
	return nil, &UnknownStepError{Name: name, Suggestion: g.closest(name)}
}

// closest finds the step or base name nearest to a mistyped one.
func (g *Graph) closest(name string) string {
	var names []string
	for b := range g.bases {
		names = append(names, b)
	}
	if strings.Contains(name, "[") {
		for n := range g.index {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return suggest(name, names)
}

// Select returns the graph of the targets and every step they need, directly
// or not, in the same order. With no targets it returns g.
func (g *Graph) Select(targets ...string) (*Graph, error) {
	if len(targets) == 0 {
		return g, nil
	}
	keep := make([]bool, len(g.steps))
	var stack []int
	for _, t := range targets {
		steps, err := g.Lookup(t)
		if err != nil {
			return nil, err
		}
		for _, s := range steps {
			stack = append(stack, g.index[s.Name])
		}
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if keep[i] {
			continue
		}
		keep[i] = true
		stack = append(stack, g.deps[i]...)
	}
	return g.subgraph(keep), nil
}

// subgraph keeps the marked steps, which must be closed under deps.
func (g *Graph) subgraph(keep []bool) *Graph {
	newIdx := make([]int, len(g.steps))
	var steps []*Step
	for i, k := range keep {
		if k {
			newIdx[i] = len(steps)
			steps = append(steps, g.steps[i])
		}
	}
	deps := make([][]int, 0, len(steps))
	for i, k := range keep {
		if !k {
			continue
		}
		ds := make([]int, len(g.deps[i]))
		for j, d := range g.deps[i] {
			ds[j] = newIdx[d]
		}
		deps = append(deps, ds)
	}
	sub, _ := build(steps, deps)
	return sub
}
