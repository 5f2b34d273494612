package pipeline

import (
	"container/heap"
	"fmt"
	"slices"
	"strings"
)

// Graph is the DAG of a pipeline's steps: an edge goes from a step to each
// step it needs. It is immutable and safe for concurrent use.
type Graph struct {
	steps      []*Step          // file order
	index      map[string]int   // name -> index in steps
	bases      map[string][]int // base name -> its expansions
	deps       [][]int          // what each step needs, ascending
	dependents [][]int          // what needs each step, ascending
	order      []int            // topological, file order among ready steps
	levels     [][]int
	edges      int
}

// NewGraph builds the graph of steps from their Needs. Parse does this
// already; NewGraph is for steps built by hand (tests, tools). It fails on a
// duplicate name, an unknown need or a cycle.
func NewGraph(steps []*Step) (*Graph, error) {
	index := make(map[string]int, len(steps))
	for i, s := range steps {
		if _, dup := index[s.Name]; dup {
			return nil, fmt.Errorf("%s: duplicate step %q", s.Pos, s.Name)
		}
		index[s.Name] = i
	}
	deps := make([][]int, len(steps))
	for i, s := range steps {
		for _, n := range s.Needs {
			d, ok := index[n]
			if !ok {
				return nil, fmt.Errorf("%s: step %q needs unknown step %q", s.Pos, s.Name, n)
			}
			deps[i] = append(deps[i], d)
		}
		slices.Sort(deps[i])
		deps[i] = slices.Compact(deps[i])
	}
	g, cycles := build(steps, deps)
	if len(cycles) > 0 {
		c := cycles[0]
		names := make([]string, 0, len(c)+1)
		for _, i := range append(c, c[0]) {
			names = append(names, steps[i].Name)
		}
		return nil, fmt.Errorf("%s: cycle: %s", steps[c[0]].Pos, strings.Join(names, " -> "))
	}
	return g, nil
}

// build makes a graph from steps and their resolved deps. When the deps hold
// cycles it returns them (each rotated to start at its first step in file
// order) and a graph whose order and levels leave out the steps on or behind
// a cycle.
func build(steps []*Step, deps [][]int) (*Graph, [][]int) {
	g := &Graph{steps: steps, deps: deps, index: make(map[string]int, len(steps)), bases: make(map[string][]int, len(steps))}
	for i, s := range steps {
		g.index[s.Name] = i
		g.bases[s.Base] = append(g.bases[s.Base], i)
	}
	if g.deps == nil {
		g.deps = make([][]int, len(steps))
	}
	g.dependents = make([][]int, len(steps))
	for i, ds := range g.deps {
		g.edges += len(ds)
		for _, d := range ds {
			g.dependents[d] = append(g.dependents[d], i)
		}
	}
	if g.sort() {
		return g, nil
	}
	return g, g.cycles()
}

// sort computes the topological order (Kahn's algorithm, the ready step first
// in the file going first) and the levels. It reports whether every step
// could be ordered, that is, whether the graph has no cycle.
func (g *Graph) sort() bool {
	n := len(g.steps)
	indeg := make([]int, n)
	level := make([]int, n)
	ready := &intHeap{}
	for i := range n {
		indeg[i] = len(g.deps[i])
		if indeg[i] == 0 {
			ready.items = append(ready.items, i)
		}
	}
	g.order = make([]int, 0, n)
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		g.order = append(g.order, i)
		if level[i] == len(g.levels) {
			g.levels = append(g.levels, nil)
		}
		g.levels[level[i]] = append(g.levels[level[i]], i)
		for _, d := range g.dependents[i] {
			level[d] = max(level[d], level[i]+1)
			if indeg[d]--; indeg[d] == 0 {
				heap.Push(ready, d)
			}
		}
	}
	for _, l := range g.levels {
		slices.Sort(l)
	}
	return len(g.order) == n
}

// intHeap is a min-heap of step indexes.
type intHeap struct{ items []int }

func (h *intHeap) Len() int           { return len(h.items) }
func (h *intHeap) Less(i, j int) bool { return h.items[i] < h.items[j] }
func (h *intHeap) Swap(i, j int)      { h.items[i], h.items[j] = h.items[j], h.items[i] }
func (h *intHeap) Push(x any)         { h.items = append(h.items, x.(int)) }
func (h *intHeap) Pop() any {
	last := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return last
}

// maxCycles bounds how many cycles one file reports.
const maxCycles = 20

// cycles finds cycles with an iterative depth-first search along needs.
func (g *Graph) cycles() [][]int {
	const (
		white = iota
		grey
		black
	)
	color := make([]int8, len(g.steps))
	var out [][]int
	for start := range g.steps {
		if color[start] != white || len(out) >= maxCycles {
			continue
		}
		type frame struct{ node, next int }
		stack := []frame{{start, 0}}
		color[start] = grey
		for len(stack) > 0 && len(out) < maxCycles {
			top := &stack[len(stack)-1]
			if top.next == len(g.deps[top.node]) {
				color[top.node] = black
				stack = stack[:len(stack)-1]
				continue
			}
			d := g.deps[top.node][top.next]
			top.next++
			switch color[d] {
			case white:
				color[d] = grey
				stack = append(stack, frame{d, 0})
			case grey:
				var c []int
				for k := len(stack) - 1; k >= 0; k-- {
					c = append(c, stack[k].node)
					if stack[k].node == d {
						break
					}
				}
				slices.Reverse(c)
				out = append(out, rotate(c))
			}
		}
	}
	return out
}

// rotate turns a cycle so that it starts at its lowest index.
func rotate(c []int) []int {
	m := slices.Index(c, slices.Min(c))
	return append(slices.Clone(c[m:]), c[:m]...)
}
