package github

import (
	"fmt"
	"strings"

	"github.com/pipe-run/pipe/pipeline"
	"gopkg.in/yaml.v3"
)

func jobKeys() []string {
	return []string{"name", "needs", "runs-on", "if", "env", "defaults", "container", "services", "steps", "strategy",
		"timeout-minutes", "continue-on-error", "outputs", "permissions", "environment", "concurrency", "uses", "with", "secrets"}
}

// job is one job of the workflow, before its matrix is expanded.
type job struct {
	id        string
	k, v      *yaml.Node
	f         map[string]entry
	needs     []string
	needNodes []*yaml.Node
	combos    []combo  // nil: no matrix
	names     []string // the pipe steps it becomes, one per combination
	dropped   bool     // left out: its if: is false here, or a job it needs was left out
	afterFail bool     // its if: lets it run after a failure
}

// envVal is one evaluated env entry.
type envVal struct {
	name string
	t    tmpl
	n    *yaml.Node
}

// allJobs decodes the jobs, expands their matrices, then translates them in
// the order of their needs.
func (t *translator) allJobs(n *yaml.Node) {
	for _, e := range t.d.mapping(n, "jobs") {
		j := t.decodeJob(e)
		if j == nil {
			continue
		}
		t.jobs[j.id] = j
		t.order = append(t.order, j.id)
	}
	if len(t.order) == 0 && len(t.errs) == 0 {
		t.d.errorf(n, "add a job with runs-on: and steps:", "jobs: no job")
	}
	for _, id := range t.order {
		t.checkNeeds(t.jobs[id])
	}
	order, ok := t.jobOrder()
	if !ok {
		return
	}
	wanted := t.wantedJobs()
	for _, id := range order {
		j := t.jobs[id]
		nErrs, nSteps := len(t.errs), len(t.out.steps)
		t.translateJob(j)
		if wanted != nil && !wanted[id] && len(t.errs) > nErrs {
			t.leaveOut(j, nErrs, nSteps)
		}
	}
	t.checkSomeJob(n)
}

// wantedJobs returns the jobs the steps named on the command line need
// (themselves and what they need, transitively); nil when none is named:
// every job is wanted.
func (t *translator) wantedJobs() map[string]bool {
	if len(t.ctx.Selected) == 0 {
		return nil
	}
	wanted := map[string]bool{}
	var want func(id string)
	want = func(id string) {
		if wanted[id] {
			return
		}
		wanted[id] = true
		for _, n := range t.jobs[id].needs {
			want(n)
		}
	}
	for _, sel := range t.ctx.Selected {
		for _, id := range t.order {
			if sel == id || strings.HasPrefix(sel, id+"[") || contains(t.jobs[id].names, sel) {
				want(id)
			}
		}
	}
	return wanted
}

// leaveOut turns the problems of a job that no named step needs into
// warnings and drops the job: pipe runs the named steps all the same.
func (t *translator) leaveOut(j *job, nErrs, nSteps int) {
	for _, e := range t.errs[nErrs:] {
		e.Msg = fmt.Sprintf("job %s is left out (pipe runs only what the named steps need): %s", j.id, e.Msg)
		t.warns = append(t.warns, e)
	}
	t.errs = t.errs[:nErrs]
	t.out.steps = t.out.steps[:nSteps]
	j.dropped = true
}

// checkSomeJob reports a workflow none of whose jobs runs here, with the
// reasons, which are otherwise only warnings.
func (t *translator) checkSomeJob(n *yaml.Node) {
	if len(t.out.steps) > 0 || len(t.errs) > 0 {
		return
	}
	for _, w := range t.warns {
		if strings.Contains(w.Msg, "is left out") {
			t.errs = append(t.errs, w)
		}
	}
	t.d.errorf(n, "the other lines say why each job is left out: run on the branch or event the jobs are for (PIPE_EVENT=push), or give --platform for their runs-on", "no job of the workflow runs here")
}

func (t *translator) decodeJob(e entry) *job {
	j := &job{id: e.key, k: e.k, v: e.v, f: map[string]entry{}}
	if !validName(e.key) {
		t.d.errorf(e.k, "pipe step names use letters, digits, _ . - and start with a letter or digit: rename the job", "job id %q cannot name a pipe step", e.key)
		return nil
	}
	for _, f := range t.d.mapping(e.v, "job "+e.key) {
		if !contains(jobKeys(), f.key) {
			t.d.errorf(f.k, "known keys: "+strings.Join(jobKeys(), ", "), "job %s: unknown key %q", e.key, f.key)
			continue
		}
		j.f[f.key] = f
	}
	if u, ok := j.f["uses"]; ok {
		t.d.errorf(u.v, "pipe does not run reusable workflows: copy its jobs into this workflow", "job %s: uses: a reusable workflow", e.key)
		return nil
	}
	if _, ok := j.f["steps"]; !ok && deref(e.v) != nil && deref(e.v).Kind == yaml.MappingNode {
		t.d.errorf(e.k, "add steps: with at least one run: step", "job %s has no steps", e.key)
	}
	if f, ok := j.f["needs"]; ok {
		j.needs, j.needNodes = t.d.strs(f.v, "jobs."+e.key+".needs")
	}
	j.combos = []combo{{vals: map[string]any{}}}
	if s, ok := j.f["strategy"]; ok {
		t.strategy(j, s)
	}
	j.names = t.comboNames(j)
	return j
}

// validName is pipe's rule for step names (pipeline.IsName), with the
// translator's own tighter bound of 100 bytes for job ids and service keys.
func validName(s string) bool {
	return len(s) <= 100 && pipeline.IsName(s)
}

func strategyKeys() []string { return []string{"matrix", "fail-fast", "max-parallel"} }

func (t *translator) strategy(j *job, s entry) {
	for _, f := range t.d.mapping(s.v, "strategy") {
		switch f.key {
		case "matrix":
			if combos, ok := t.expandMatrix(f.v, t.workflowEval("strategy.matrix")); ok {
				j.combos = combos
			}
		case "fail-fast":
		case "max-parallel":
			t.d.warnf(f.k, "pipe runs up to --jobs steps at once (pipe run -j N)", "strategy.max-parallel is not applied")
		default:
			t.d.errorf(f.k, "known keys: "+strings.Join(strategyKeys(), ", "), "strategy: unknown key %q", f.key)
		}
	}
}

// comboNames names the pipe steps of a job: its id, or id-values for each
// combination of a matrix.
func (t *translator) comboNames(j *job) []string {
	if len(j.combos) == 1 && len(j.combos[0].keys) == 0 {
		return []string{j.id}
	}
	seen := map[string]bool{}
	var out []string
	for i, c := range j.combos {
		name := j.id
		if l := comboLabel(c); l != "" {
			name += "-" + l
		}
		if seen[name] {
			name = fmt.Sprintf("%s-%d", name, i+1)
		}
		seen[name] = true
		out = append(out, name)
	}
	return out
}

// checkNeeds reports the needs that name no job and drops them, so that the
// rest of the job is still checked.
func (t *translator) checkNeeds(j *job) {
	var kept []string
	for i, n := range j.needs {
		if _, ok := t.jobs[n]; !ok {
			t.d.errorf(j.needNodes[i], "jobs: "+strings.Join(t.order, ", "), "job %s needs %q, which is no job of the workflow", j.id, n)
			continue
		}
		kept = append(kept, n)
	}
	j.needs = kept
}

// jobOrder sorts the jobs so that each comes after those it needs.
func (t *translator) jobOrder() ([]string, bool) {
	state := map[string]int{} // 1 visiting, 2 done
	var out []string
	var visit func(id string, path []string) bool
	visit = func(id string, path []string) bool {
		switch state[id] {
		case 1:
			j := t.jobs[id]
			t.d.errorf(j.k, "remove one of the needs", "jobs need each other in a cycle: %s", strings.Join(append(path, id), " -> "))
			return false
		case 2:
			return true
		}
		state[id] = 1
		for _, n := range t.jobs[id].needs {
			if !visit(n, append(path, id)) {
				return false
			}
		}
		state[id] = 2
		out = append(out, id)
		return true
	}
	for _, id := range t.order {
		if !visit(id, nil) {
			return nil, false
		}
	}
	return out, true
}

// workflowEval evaluates in the workflow's env and other places that see
// github, inputs, vars and secrets only.
func (t *translator) workflowEval(where ...string) *evaluator {
	w := "the workflow's env"
	if len(where) > 0 {
		w = where[0]
	}
	sc := &jobScope{t: t}
	return &evaluator{contexts: map[string]any{
		"github":  githubContext(t.ctx, t.name, ""),
		"inputs":  t.inputs,
		"vars":    sc.varsContext(),
		"secrets": sc.secretsContext(),
	}, where: w}
}

// evalValue evaluates a node that may hold ${{ }} into a value: a mapping or
// list is walked, a string that is one ${{ }} gives its value.
func (t *translator) evalValue(n *yaml.Node, ev *evaluator, field string) (any, bool) {
	budget := 1 << 16
	return t.evalValueIn(n, ev, field, &budget, 0)
}

func (t *translator) evalValueIn(n *yaml.Node, ev *evaluator, field string, budget *int, depth int) (any, bool) {
	n = deref(n)
	if *budget--; *budget < 0 || depth > 50 {
		t.d.errorf(n, "write the values without so many aliases or levels", "%s: the value is too large or too deep", field)
		return nil, false
	}
	if n == nil {
		return nil, true
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			v, ok := t.evalValueIn(n.Content[i+1], ev, field, budget, depth+1)
			if !ok {
				return nil, false
			}
			m[deref(n.Content[i]).Value] = v
		}
		return m, true
	case yaml.SequenceNode:
		var out []any
		for _, c := range n.Content {
			v, ok := t.evalValueIn(c, ev, field, budget, depth+1)
			if !ok {
				return nil, false
			}
			out = append(out, v)
		}
		return out, true
	}
	if n.Tag != "!!str" || !strings.Contains(n.Value, "${{") {
		return value(n, 0), true
	}
	t.at, t.atD = n, t.d
	tm, v, whole, err := ev.evalString(n.Value)
	if err != nil {
		t.d.errorf(n, exprHint(err), "%s: %v", field, err)
		return nil, false
	}
	if whole {
		if _, ok := v.(*dyn); ok {
			t.d.errorf(n, "write the values in the workflow", "%s: the value must be known when the workflow is translated", field)
			return nil, false
		}
		return v, true
	}
	s, ok := tm.static()
	if !ok {
		t.d.errorf(n, "write the values in the workflow", "%s: the value must be known when the workflow is translated", field)
		return nil, false
	}
	return s, true
}

// evalText evaluates a scalar's ${{ }} into a tmpl.
func (t *translator) evalText(d *decoder, n *yaml.Node, ev *evaluator, field string) (tmpl, bool) {
	s, ok := d.str(n, field)
	if !ok {
		return nil, false
	}
	t.at, t.atD = n, d
	tm, _, _, err := ev.evalString(s)
	if err != nil {
		d.errorf(d.exprPos(n, s, errorOffset(s, err)), exprHint(err), "%s: %v", field, err)
		return nil, false
	}
	return tm, true
}

// evalStatic evaluates a scalar that must be known at translation.
func (t *translator) evalStatic(d *decoder, n *yaml.Node, ev *evaluator, field string) (string, bool) {
	tm, ok := t.evalText(d, n, ev, field)
	if !ok {
		return "", false
	}
	s, ok := tm.static()
	if !ok {
		d.errorf(n, "pipe needs this value when it reads the workflow: do not use step outputs, $GITHUB_ENV variables or secrets here", "%s: the value is known only when the job runs", field)
	}
	return s, ok
}

func exprHint(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unknown context"):
		return "GitHub's contexts are github, env, vars, job, steps, runner, secrets, strategy, matrix, needs, inputs"
	case strings.Contains(msg, "unknown function"):
		return "pipe evaluates GitHub's functions: " + strings.Join(funcNames(), ", ")
	}
	return "see GitHub's expression syntax: ${{ <expression> }}"
}

// envMap evaluates an env mapping.
func (t *translator) envMap(n *yaml.Node, field string, ev *evaluator) []envVal {
	return t.envMapIn(t.d, n, field, ev)
}

func (t *translator) envMapIn(d *decoder, n *yaml.Node, field string, ev *evaluator) []envVal {
	if s := deref(n); s != nil && s.Kind == yaml.ScalarNode && strings.Contains(s.Value, "${{") {
		d.errorf(n, "write the variables as a mapping", "%s: an env computed by an expression is not supported", field)
		return nil
	}
	var out []envVal
	for _, e := range d.mapping(n, field) {
		if !pipeline.IsEnvName(e.key) {
			d.errorf(e.k, "use letters, digits and _, not starting with a digit", "%s: %q is not a valid variable name", field, e.key)
			continue
		}
		if isNull(e.v) {
			out = append(out, envVal{name: e.key, t: tmpl{}, n: e.v})
			continue
		}
		if deref(e.v).Kind != yaml.ScalarNode {
			d.errorf(e.v, "write a string", "%s.%s: expected a string, found %s", field, e.key, kindName(e.v))
			continue
		}
		tm, ok := t.evalText(d, e.v, ev, field+"."+e.key)
		if ok {
			out = append(out, envVal{name: e.key, t: tm, n: e.v})
		}
	}
	return out
}

// exportLine is the shell line that sets an env entry in a job's shell.
func exportLine(name string, t tmpl) string {
	if s, ok := t.static(); ok {
		return "export " + name + "=" + shQuote(s)
	}
	return "export " + name + "=\"" + t.dquoted() + "\""
}

func posOf(d *decoder, n *yaml.Node) pipeline.Pos { return d.pos(n) }
