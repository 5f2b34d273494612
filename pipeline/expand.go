package pipeline

import (
	"path"
	"strings"

	"gopkg.in/yaml.v3"
)

// steps decodes the steps mapping, expands matrices, resolves needs and
// builds the graph.
func (ps *parser) steps(e entry, root *yaml.Node) {
	if e.v == nil {
		ps.errorf(root, "add a steps: mapping of name -> {image, run}", "no steps")
		return
	}
	entries := ps.mapping(e.v, "steps", "steps: {test: {run: go test ./...}}")
	if n := deref(e.v); n != nil && n.Kind == yaml.MappingNode && len(n.Content) == 0 {
		ps.errorf(e.k, "add at least one step", "steps is empty")
	}
	raws := make([]*rawStep, 0, len(entries))
	for _, se := range entries {
		if !IsName(se.key) {
			ps.errorf(se.k, "use letters, digits, _ . - (not first), at most 128 characters", "steps: %s is not a valid step name", quote(se.key))
			continue
		}
		raws = append(raws, ps.step(se))
	}
	x := ps.expandAll(raws)
	ps.resolveNeeds(x)
	ps.resolveOutputsFrom(x)
	g, cycles := build(ps.p.Steps, x.deps)
	for _, c := range cycles {
		ps.cycle(x, c)
	}
	ps.p.Graph = g
}

// expansion is what expanding every step produced, for resolving needs.
type expansion struct {
	raws  []*rawStep
	index map[string]int   // step name -> index in Steps
	bases map[string][]int // base name -> indexes of its expansions
	needs [][]text         // per step: needs as written, interpolated
	rawOf []*rawStep       // per step: the raw step it was expanded from
	deps  [][]int          // per step: resolved needs
	nodes [][]*yaml.Node   // per step: the node of each dep, for cycles
}

func (ps *parser) expandAll(raws []*rawStep) *expansion {
	x := &expansion{raws: raws, index: make(map[string]int, len(raws)), bases: make(map[string][]int, len(raws))}
	for _, r := range raws {
		r.order = len(ps.p.Steps)
		for _, m := range combos(r.axes) {
			if len(ps.p.Steps) >= MaxSteps {
				ps.errorf(r.k, "split the pipeline", "more than %d steps after matrix expansion", MaxSteps)
				return x
			}
			s, needs := ps.expandStep(r, m)
			if _, dup := x.index[s.Name]; dup {
				ps.errorf(r.k, "make the matrix values distinct", "matrix expansions collide: two steps are named %s", quote(s.Name))
				continue
			}
			x.index[s.Name] = len(ps.p.Steps)
			x.bases[r.name] = append(x.bases[r.name], len(ps.p.Steps))
			ps.p.Steps = append(ps.p.Steps, s)
			x.needs = append(x.needs, needs)
			x.rawOf = append(x.rawOf, r)
		}
	}
	return x
}

// expandStep builds one expansion of r with the matrix values m.
func (ps *parser) expandStep(r *rawStep, m []MatrixValue) (*Step, []text) {
	s := new(Step)
	*s = r.tmpl
	s.Name, s.Matrix = expandedName(r.name, m), m
	sc := ps.top
	if len(m) > 0 || r.env != nil {
		sc = ps.top.with()
		if len(r.axes) > 0 {
			sc.axes = axisNames(r.axes)
		}
		sc.matrix = make(map[string]string, len(m))
		for _, v := range m {
			sc.matrix[v.Axis] = v.Value
		}
	}
	s.Env = ps.p.Env
	if r.env != nil {
		s.Env = mergeEnv(ps.p.Env, ps.env(r.env, r.name+".env", sc, sc.vars))
	}
	s.Image = ps.p.Image
	if r.image != nil {
		s.Image = ps.expand(r.image.n, r.name+".image", r.image.s, sc)
	}
	if s.Image == "" && !r.bad {
		ps.errorf(r.k, "add image: to the step, or a default image: at the top of the file", "step %s has no image", r.name)
	}
	s.Run = make([]string, len(r.run))
	for i, t := range r.run {
		s.Run[i] = ps.expandRun(t.n, r.name+".run", t.s, sc)
	}
	ps.expandPaths(r, s, sc)
	needs := make([]text, len(r.needs))
	for i, t := range r.needs {
		needs[i] = text{s: ps.expand(t.n, r.name+".needs", t.s, sc), n: t.n}
	}
	return s, needs
}

// expandPaths resolves workdir, user, inputs and outputs.
func (ps *parser) expandPaths(r *rawStep, s *Step, sc *scope) {
	s.Workdir = Workspace
	if r.dir != nil {
		dir := ps.expand(r.dir.n, r.name+".workdir", r.dir.s, sc)
		if !path.IsAbs(dir) {
			dir = path.Join(Workspace, dir)
			if dir != Workspace && !strings.HasPrefix(dir, Workspace+"/") {
				ps.errorf(r.dir.n, "write a path inside "+Workspace+", or an absolute path", "%s.workdir: %s leaves the workspace", r.name, quote(r.dir.s))
			}
		}
		s.Workdir = path.Clean(dir)
	}
	if r.user != nil {
		s.User = ps.expand(r.user.n, r.name+".user", r.user.s, sc)
	}
	s.Inputs = ps.globs(r.in, r.name+".inputs", sc)
	s.Outputs = ps.globs(r.out, r.name+".outputs", sc)
}

func (ps *parser) globs(ts []text, field string, sc *scope) []string {
	if ts == nil {
		return nil
	}
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		g, err := checkWorkspaceGlob(ps.expand(t.n, field, t.s, sc))
		if err != nil {
			ps.errorf(t.n, err.Error(), "%s: invalid path %s", field, quote(t.s))
			continue
		}
		out = append(out, g)
	}
	return out
}

// mergeEnv returns base overridden and extended by over.
func mergeEnv(base, over []EnvVar) []EnvVar {
	out := make([]EnvVar, len(base), len(base)+len(over))
	copy(out, base)
	pos := make(map[string]int, len(base))
	for i, e := range base {
		pos[e.Name] = i
	}
	for _, e := range over {
		if i, ok := pos[e.Name]; ok {
			out[i] = e
			continue
		}
		pos[e.Name] = len(out)
		out = append(out, e)
	}
	return out
}

func axisNames(axes []axis) []string {
	out := make([]string, len(axes))
	for i, a := range axes {
		out[i] = a.name
	}
	return out
}
