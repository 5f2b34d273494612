package github

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

func stepKeys() []string {
	return []string{"id", "name", "if", "uses", "run", "shell", "with", "env", "working-directory", "continue-on-error", "timeout-minutes"}
}

// stepList is the context of a list of steps: the job's, or a composite
// action's.
type stepList struct {
	d        *decoder
	defaults runDefaults
	depth    int    // composite actions expanded around it
	guard    string // a shell condition every step also needs (a composite's if:)
	goOn     bool   // continue-on-error of the composite around it
	compose  bool   // the steps of a composite action
}

// jobSteps translates a job's steps into commands of its run list.
func (t *translator) jobSteps(j *job, sc *jobScope) []string {
	f, ok := j.f["steps"]
	if !ok {
		return nil
	}
	defaults := t.defaults
	if d, ok := j.f["defaults"]; ok {
		defaults = t.runDefaults(d.v, "defaults", defaults)
	}
	n := deref(f.v)
	if n == nil || n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		t.d.errorf(f.v, "list the steps: - run: make", "job %s: steps: expected a non-empty list, found %s", j.id, kindName(f.v))
		return nil
	}
	var steps, post []*shellStep
	list := &stepList{d: t.d, defaults: defaults}
	for _, s := range n.Content {
		main, after := t.step(sc, list, s)
		steps = append(steps, main...)
		post = append(after, post...) // post steps run in reverse order, as GitHub's
	}
	steps = append(steps, post...)
	var out []string
	for i, s := range steps {
		for _, later := range steps[i+1:] {
			s.later = s.later || later.afterFail
		}
		out = append(out, s.command())
	}
	return out
}

// step translates one step; a composite action gives several.
func (t *translator) step(sc *jobScope, list *stepList, n *yaml.Node) (main, post []*shellStep) {
	d := list.d
	f := map[string]entry{}
	for _, e := range d.mapping(n, "step") {
		if !contains(stepKeys(), e.key) {
			d.errorf(e.k, "known keys: "+strings.Join(stepKeys(), ", "), "step: unknown key %q", e.key)
			continue
		}
		f[e.key] = e
	}
	if deref(n) == nil || deref(n).Kind != yaml.MappingNode {
		return nil, nil
	}
	_, hasRun := f["run"]
	_, hasUses := f["uses"]
	if hasRun == hasUses {
		d.errorf(n, "give the step run: COMMANDS or uses: ACTION", "a step needs exactly one of run and uses")
		return nil, nil
	}
	sc.n++
	s := &shellStep{n: sc.n, goOn: list.goOn}
	id := t.stepID(sc, d, f)
	if id != "" {
		s.id = sc.prefix + id
	}
	saved := sc.env
	sc.env = cloneEnv(saved)
	defer func() { sc.env = saved }()
	ev := sc.stepEval("a step")
	if e, ok := f["env"]; ok {
		for _, v := range t.envMapIn(d, e.v, "env", ev) {
			s.exports = append(s.exports, exportLine(v.name, v.t))
			sc.env[v.name] = envContextValue(v)
		}
	}
	ev = sc.stepEval("a step")
	s.name = t.stepName(d, f, ev)
	s.cond, s.afterFail = t.stepCond(sc, d, f)
	if list.guard != "" {
		s.cond = list.guard + " && " + group(orOK(s.cond))
	}
	t.stepSettings(sc, d, f, ev, s)
	if hasUses {
		main, post = t.uses(sc, list, f, ev, s)
	} else {
		t.runStep(sc, list, f, ev, s)
		main = []*shellStep{s}
	}
	if id != "" {
		sc.stepIDs[id] = true
	}
	return main, post
}

func orOK(c string) string {
	if c == "" {
		return "__gh_ok"
	}
	return c
}

func cloneEnv(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (t *translator) stepID(sc *jobScope, d *decoder, f map[string]entry) string {
	e, ok := f["id"]
	if !ok {
		return ""
	}
	id, ok := d.str(e.v, "id")
	if !ok {
		return ""
	}
	if !isStepID(id) {
		d.errorf(e.v, "start with a letter or _, then letters, digits, - and _", "id %q is not a valid step id", id)
		return ""
	}
	if sc.stepIDs[id] {
		d.errorf(e.v, "give each step its own id", "id %q is used by an earlier step", id)
		return ""
	}
	return id
}

func isStepID(s string) bool {
	if s == "" || len(s) > 100 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && ('0' <= c && c <= '9' || c == '-') {
			continue
		}
		return false
	}
	return true
}

func (t *translator) stepName(d *decoder, f map[string]entry, ev *evaluator) string {
	if e, ok := f["name"]; ok {
		if tm, ok := t.evalText(d, e.v, ev, "name"); ok {
			if s, ok := tm.static(); ok {
				return s
			}
		}
	}
	if e, ok := f["run"]; ok {
		return "Run " + oneLine(deref(e.v).Value)
	}
	return "Run " + deref(f["uses"].v).Value
}

// stepCond compiles a step's if: into a shell condition over the job's
// status ("" is the default: the job has not failed) and says whether the
// step may run after a failure.
func (t *translator) stepCond(sc *jobScope, d *decoder, f map[string]entry) (string, bool) {
	e, ok := f["if"]
	if !ok {
		return "", false
	}
	okV, failV, ok := t.worlds(d, sc, e.v, "if", sc.stepEval)
	if !ok {
		return "", false
	}
	c1, c2 := shCond(okV), shCond(failV)
	switch {
	case c1 == "true" && c2 == "false":
		return "", false
	case c1 == "false" && c2 == "true":
		return "! __gh_ok", true
	case c1 == c2 && (c1 == "true" || c1 == "false"):
		return c1, c1 == "true"
	case c2 == "false":
		return "__gh_ok && " + group(c1), false
	case c1 == "false":
		return "! __gh_ok && " + group(c2), true
	}
	return "if __gh_ok; then " + c1 + "; else " + c2 + "; fi", true
}

func shCond(v any) string {
	if d, ok := v.(*dyn); ok {
		return condOf(d)
	}
	if truthy(v) {
		return "true"
	}
	return "false"
}

// stepSettings reads working-directory, continue-on-error and timeout-minutes.
func (t *translator) stepSettings(sc *jobScope, d *decoder, f map[string]entry, ev *evaluator, s *shellStep) {
	if e, ok := f["continue-on-error"]; ok {
		if b, ok := t.boolValue(d, e.v, ev, "continue-on-error"); ok {
			s.goOn = s.goOn || b
		}
	}
	if e, ok := f["timeout-minutes"]; ok {
		if secs, ok := t.minutes(d, e.v, ev, "timeout-minutes"); ok {
			s.timeout = secs
		}
	}
}

// runStep translates a run: step.
func (t *translator) runStep(sc *jobScope, list *stepList, f map[string]entry, ev *evaluator, s *shellStep) {
	d := list.d
	tm, ok := t.evalText(d, f["run"].v, ev, "run")
	if !ok {
		return
	}
	script, exports := sc.runText(tm)
	s.script = script
	if _, named := f["name"]; !named && !strings.Contains(oneLine(script), "${PIPE_GH_EXPR_") {
		s.name = "Run " + oneLine(script) // as GitHub shows it: with the values put in
	}
	s.exports = append(s.exports, exports...)
	shell := list.defaults.shell
	if e, ok := f["shell"]; ok {
		if v, ok := t.evalStatic(d, e.v, ev, "shell"); ok {
			shell = v
		}
	}
	cmd, err := shellCommand(shell)
	if err != nil {
		d.errorf(f["shell"].v, "", "shell: %v", err)
	}
	s.shell = cmd
	dir := list.defaults.workdir
	if e, ok := f["working-directory"]; ok {
		if v, ok := t.evalStatic(d, e.v, ev, "working-directory"); ok {
			dir = v
		}
	}
	if strings.Contains(dir, "${{") {
		tm, _, _, err := ev.evalString(dir)
		if st, known := tm.static(); err == nil && known {
			dir = st
		} else {
			where := f["run"].v
			if e, ok := f["working-directory"]; ok {
				where = e.v
			}
			d.errorf(where, "write a path known when the workflow is translated", "working-directory %s: %v", dir, errOrDyn(err))
		}
	}
	s.workdir = dir
}

func errOrDyn(err error) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("the value is known only when the job runs")
}

// withInputs reads a uses: step's with: values.
func (t *translator) withInputs(d *decoder, f map[string]entry, ev *evaluator) map[string]tmpl {
	out := map[string]tmpl{}
	e, ok := f["with"]
	if !ok {
		return out
	}
	for _, w := range d.mapping(e.v, "with") {
		if isNull(w.v) {
			out[strings.ToLower(w.key)] = tmpl{}
			continue
		}
		if tm, ok := t.evalText(d, w.v, ev, "with."+w.key); ok {
			out[strings.ToLower(w.key)] = tm
		}
	}
	return out
}

func staticWith(w map[string]tmpl, key string) (string, bool) {
	tm, ok := w[key]
	if !ok {
		return "", false
	}
	s, known := tm.static()
	if !known {
		return tm.dquoted(), true
	}
	return s, true
}

// lines splits a multi-line with: value into its non-empty lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func stepDesc(s *shellStep) string { return fmt.Sprintf("step %d (%s)", s.n, s.name) }
