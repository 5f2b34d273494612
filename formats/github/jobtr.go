package github

import (
	"fmt"
	"math"
	"strings"

	"github.com/pipe-run/pipe/pipeline"
	"gopkg.in/yaml.v3"
)

// translateJob translates every combination of a job into a pipe step.
func (t *translator) translateJob(j *job) {
	for _, n := range j.needs {
		if t.jobs[n].dropped && !statusIf(j) {
			j.dropped = true
			t.d.warnf(j.k, "", "job %s is left out: it needs %s, which is left out", j.id, n)
			return
		}
	}
	if t.translateMatrix(j) {
		return
	}
	kept := 0
	for i, c := range j.combos {
		if t.translateCombo(j, c, j.names[i]) {
			kept++
		}
	}
	j.dropped = kept == 0
}

// statusIf reports whether a job's if: calls a status function (always(),
// failure(), ...), which lets it run when what it needs did not succeed.
func statusIf(j *job) bool {
	f, ok := j.f["if"]
	if !ok {
		return false
	}
	n := deref(f.v)
	if n == nil || n.Kind != yaml.ScalarNode {
		return false
	}
	s := strings.TrimSpace(n.Value)
	if sp, err := findExprs(s); err == nil && len(sp) == 1 && sp[0].start == 0 && sp[0].end == len(s) {
		s = sp[0].inner
	}
	x, err := parseExpr(s)
	return err == nil && hasStatus(x)
}

// translateCombo translates one combination; false when it is left out.
func (t *translator) translateCombo(j *job, c combo, name string) bool {
	ps := &pipeStep{name: name, origin: t.d.pos(j.k), fields: map[string]pipeline.Pos{}, outputs: []string{ShareDir + "/"}}
	sc := &jobScope{t: t, j: j, c: c, ps: ps, env: map[string]any{}, stepIDs: map[string]bool{}, warned: map[string]bool{}}
	for _, v := range t.wfEnv {
		sc.env[v.name] = envContextValue(v)
	}
	ev := sc.jobEval("a job")
	for _, n := range j.needs {
		if !t.jobs[n].dropped { // a left-out need of an always() job
			ps.needs = append(ps.needs, t.jobs[n].names...)
		}
	}
	var prelude []string
	if f, ok := j.f["if"]; ok {
		guard, keep := t.jobIf(sc, f)
		if !keep {
			return false
		}
		prelude = append(prelude, guard...)
	}
	ps.comment = t.jobComment(j, sc, ev)
	if !t.jobImage(j, sc, ev) {
		return false
	}
	prelude = append(t.jobEnv(j, sc, ev), prelude...)
	t.jobSettings(j, sc, ev)
	if f, ok := j.f["services"]; ok {
		t.jobServices(sc, f, ev)
	}
	if f, ok := j.f["environment"]; ok {
		t.d.warnf(f.k, "the job runs, without the environment's protection rules and secrets", "job %s: environment is not applied", j.id)
	}
	ps.env = append(ps.env, kv{"GITHUB_JOB", j.id})
	steps := t.jobSteps(j, sc)
	ps.run = append([]string{runnerSetup + prelude_text(prelude)}, steps...)
	ps.run = append(ps.run, runnerFinish(t.jobOutputs(j, sc)))
	t.out.steps = append(t.out.steps, ps)
	return true
}

func prelude_text(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return "\n" + strings.Join(lines, "\n")
}

// envContextValue is an env entry as the env context sees it.
func envContextValue(v envVal) any {
	if s, ok := v.t.static(); ok {
		return s
	}
	return &dyn{word: "${" + v.name + "-}"}
}

// jobIf decides a job's if: at translation where it can, else at the start
// of the job. It returns the job's guard lines and false when the job is
// left out.
func (t *translator) jobIf(sc *jobScope, f entry) ([]string, bool) {
	if n := deref(f.v); n != nil && n.Kind == yaml.ScalarNode {
		if branch, event, ok := ifAsWhen(n.Value); ok {
			sc.ps.branch, sc.ps.event = branch, event
			sc.ps.fields["when"] = t.d.pos(f.v)
			return nil, true
		}
	}
	okV, failV, ok := t.worlds(t.d, sc, f.v, "if", sc.jobEval)
	if !ok {
		return nil, true
	}
	okD, okDyn := okV.(*dyn)
	_, failDyn := failV.(*dyn)
	switch {
	case failDyn || okDyn && truthy(failV):
		t.d.errorf(f.v, "use success(), failure() or always() with values known when the workflow is translated", "job %s: if: this condition cannot be decided before the job starts", sc.j.id)
		return nil, true
	case okDyn:
		// known only when the job starts (needs.*.outputs): the job checks it
		return []string{"if ! " + group(condOf(okD)) + "; then echo " + shQuote("pipe: job "+sc.j.id+" skipped: its if: is false") + "; exit 0; fi"}, true
	}
	okT, failT := truthy(okV), truthy(failV)
	switch {
	case okT && failT:
		sc.ps.status = "always"
		sc.ps.fields["when"] = t.d.pos(f.v)
	case failT && len(sc.ps.needs) == 0:
		why := "it needs none"
		if len(sc.j.needs) > 0 {
			why = "none of them runs here"
		}
		t.d.warnf(f.v, "", "job %s is left out: its if: runs it only after a failure of a job it needs, and %s", sc.j.id, why)
		return nil, false
	case failT:
		sc.ps.status = "failure"
		sc.ps.fields["when"] = t.d.pos(f.v)
	case !okT:
		t.d.warnf(f.v, "", "job %s is left out: its if: is false here (%s)", sc.j.id, t.here())
		return nil, false
	}
	return nil, true
}

// here describes the local state conditions are evaluated against.
func (t *translator) here() string {
	ref, _, _ := gitRef(t.ctx)
	if ref == "" {
		ref = "no branch"
	}
	return "github.ref " + ref + ", github.event_name " + eventName(t.ctx.Event)
}

// worlds evaluates an if: twice: when everything so far succeeded (world
// 0) and when something failed (world 1). Without a status function, a
// condition holds only in world 0, as GitHub adds success() &&.
func (t *translator) worlds(d *decoder, sc *jobScope, n *yaml.Node, field string, evalFor func(string) *evaluator) (any, any, bool) {
	s, ok := d.str(n, field)
	if !ok {
		return nil, nil, false
	}
	var vals [2]any
	status := false
	t.at, t.atD = n, d
	for w := 0; w < 2; w++ {
		sc.world = w
		v, x, err := evalFor("if:").evalCondition(s)
		if err != nil {
			sc.world = 0
			d.errorf(n, exprHint(err), "%s: %v", field, err)
			return nil, nil, false
		}
		vals[w] = v
		status = status || x != nil && hasStatus(x)
	}
	sc.world = 0
	if !status {
		vals[1] = false
	}
	return vals[0], vals[1], true
}

func (t *translator) jobComment(j *job, sc *jobScope, ev *evaluator) string {
	display := j.id
	if f, ok := j.f["name"]; ok {
		if s, ok := t.evalStatic(t.d, f.v, ev, "name"); ok {
			display = s
		}
	}
	var vals []string
	for _, k := range sc.c.keys {
		vals = append(vals, toString(sc.c.vals[k]))
	}
	if len(vals) > 0 {
		display += " (" + strings.Join(vals, ", ") + ")"
	}
	return fmt.Sprintf("job %s from %s:%d", display, t.file, j.k.Line)
}

// jobEnv sets the job's env: known values in the pipe step's env, the
// others (secrets, outputs of needed jobs) exported when the job starts.
func (t *translator) jobEnv(j *job, sc *jobScope, ev *evaluator) []string {
	var vals []envVal
	if f, ok := j.f["container"]; ok {
		if n := mapChild(f.v, "env"); n != nil {
			vals = append(vals, t.envMap(n, "container.env", ev)...)
		}
	}
	if f, ok := j.f["env"]; ok {
		vals = append(vals, t.envMap(f.v, "env", ev)...)
	}
	over := map[string]bool{}
	for _, v := range vals {
		over[v.name] = true
	}
	var lines []string
	for _, v := range t.wfEnv {
		if _, ok := v.t.static(); !ok && !over[v.name] {
			lines = append(lines, exportLine(v.name, v.t))
		}
	}
	for _, s := range t.wfSecrets {
		sc.ps.secrets = addUnique(sc.ps.secrets, s)
	}
	for _, v := range vals {
		if s, ok := v.t.static(); ok {
			sc.ps.env = setKV(sc.ps.env, v.name, s)
		} else {
			lines = append(lines, exportLine(v.name, v.t))
		}
		sc.env[v.name] = envContextValue(v)
	}
	return lines
}

// jobSettings reads timeout-minutes and continue-on-error.
func (t *translator) jobSettings(j *job, sc *jobScope, ev *evaluator) {
	if f, ok := j.f["timeout-minutes"]; ok {
		if secs, ok := t.minutes(t.d, f.v, ev, "timeout-minutes"); ok {
			sc.ps.timeout = fmt.Sprintf("%ds", secs)
			sc.ps.fields["timeout"] = t.d.pos(f.v)
		}
	}
	if f, ok := j.f["continue-on-error"]; ok {
		if b, ok := t.boolValue(t.d, f.v, ev, "continue-on-error"); ok {
			sc.ps.allow = b
		}
	}
}

// minutes reads a timeout-minutes value as seconds.
func (t *translator) minutes(d *decoder, n *yaml.Node, ev *evaluator, field string) (int, bool) {
	v, ok := t.evalValue(n, ev, field)
	if !ok {
		return 0, false
	}
	m := toNumber(v)
	if math.IsNaN(m) || m <= 0 || m > 60*24*35 {
		d.errorf(n, "write a number of minutes, e.g. timeout-minutes: 10", "%s: %s is not a number of minutes", field, describe(v))
		return 0, false
	}
	return int(math.Ceil(m * 60)), true
}

func (t *translator) boolValue(d *decoder, n *yaml.Node, ev *evaluator, field string) (bool, bool) {
	v, ok := t.evalValue(n, ev, field)
	if !ok {
		return false, false
	}
	switch x := v.(type) {
	case bool:
		return x, true
	case string:
		switch strings.ToLower(x) {
		case "true":
			return true, true
		case "false", "":
			return false, true
		}
	}
	d.errorf(n, "write true or false", "%s: expected true or false, found %s", field, describe(v))
	return false, false
}

// jobOutputs writes the job's outputs: for the needs.JOB.outputs of the
// jobs that need it.
func (t *translator) jobOutputs(j *job, sc *jobScope) []string {
	f, ok := j.f["outputs"]
	if !ok {
		return nil
	}
	ev := sc.stepEval("a job's outputs")
	dir := "/workspace/" + ShareDir + "/jobs/" + j.id + "/outputs"
	lines := []string{"mkdir -p " + shQuote(dir)}
	for _, e := range t.d.mapping(f.v, "outputs") {
		tm, ok := t.evalText(t.d, e.v, ev, "outputs."+e.key)
		if !ok {
			continue
		}
		lines = append(lines, "printf '%s' \""+tm.dquoted()+"\" > "+shQuote(dir+"/"+sanitizeName(e.key)))
	}
	return lines
}
