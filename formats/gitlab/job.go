package gitlab

import (
	"slices"
	"strings"

	"github.com/pipe-run/pipe/pipeline"
)

// jobInfo is a job that is in the pipeline, with what decides how it runs.
type jobInfo struct {
	name     string // as in the file
	step     string // the pipe step's name
	key      *node
	n        *node // the job after extends:, !reference and default:
	stage    string
	vars     *vars    // predefined, the file's, the job's, the matching rule's: expanded
	fileVars []string // the names of vars that come from the file, in order
	when     string   // on_success, on_failure, always, manual, delayed
	allow    bool     // allow_failure: true
	codes    []int    // allow_failure: exit_codes
	needs    []needRef
	hasNeeds bool     // needs: given (then stages do not order it)
	stepDeps []string // the steps it needs, once resolved
	from     []string // the steps whose outputs it sees, when fromSet (needs:, dependencies:)
	fromSet  bool
	matrix   []mEntry // parallel: matrix, or parallel: N as one CI_NODE_INDEX entry
	steps    []string // the pipe steps it became (several with a matrix of several entries)
}

// needRef is one entry of needs: or dependencies:.
type needRef struct {
	name        string
	pos         pipeline.Pos
	optional    bool
	noArtifacts bool // artifacts: false
}

// jobKeys are the keys of a job pipe knows, supported or not.
func jobKeys() []string {
	return []string{"script", "before_script", "after_script", "image", "services", "variables", "stage", "needs",
		"dependencies", "artifacts", "cache", "rules", "only", "except", "when", "allow_failure", "timeout", "retry",
		"parallel", "interruptible", "tags", "coverage", "environment", "resource_group", "trigger", "secrets",
		"id_tokens", "release", "pages", "hooks", "inherit", "start_in", "dast_configuration", "identity",
		"manual_confirmation", "run", "publish"}
}

// job reads one job; nil when it is not in the pipeline for this run.
func (t *translator) job(k, n *node) *jobInfo {
	if !t.copyOK(n) {
		return nil
	}
	j := &jobInfo{name: k.value, key: k, n: n.clone(), stage: "test"}
	t.jobKeysOK(j) // a job with problems stays, so that what needs it is not reported too
	if s := n.get("stage"); s != nil {
		j.stage = strValue(s)
		if !slices.Contains(t.stages, j.stage) {
			t.errorf(s.pos, t.suggest(j.stage, t.stages, "the stages are "+strings.Join(t.stages, ", ")), "%s.stage: %s is not one of the stages", j.name, describe(s))
			j.stage = t.stages[len(t.stages)/2]
		}
	}
	inheritDefault, inheritVars := t.inherit(j)
	t.applyDefaults(j, inheritDefault)
	j.vars = predefined(t.ctx, j)
	t.setVariables(j.vars, filterVars(t.global, inheritVars))
	t.setVariables(j.vars, t.wfVars)
	own := t.variables(n.get("variables"), j.name+".variables")
	t.setVariables(j.vars, own)
	j.fileVars = varNames(filterVars(t.global, inheritVars), t.wfVars, own)
	if !t.decide(j) {
		return nil
	}
	if n.get("script") == nil && n.get("trigger") == nil && n.get("run") == nil {
		t.errorf(k.pos, "add script: with the commands to run", "job %s has no script", j.name)
	}
	return j
}

// jobKeysOK reports unknown keys and the ones pipe cannot run.
func (t *translator) jobKeysOK(j *jobInfo) bool {
	ok := true
	for _, k := range j.n.keys {
		if !slices.Contains(jobKeys(), k.value) {
			t.errorf(k.pos, t.suggest(k.value, jobKeys(), "see the GitLab CI keys pipe reads in pipe's README"), "%s: unknown key %q", j.name, k.value)
			ok = false
		}
		if msg, hint, fatal := unsupportedJobKey(k.value); msg != "" {
			if fatal {
				t.errorf(k.pos, hint, "%s.%s: %s", j.name, k.value, msg)
				ok = false
			} else {
				t.warnf(k.pos, hint, "%s.%s: %s", j.name, k.value, msg)
			}
		}
	}
	return ok
}

// unsupportedJobKey says what pipe does with a key it does not run: a
// message, a hint, and whether the job cannot be translated.
func unsupportedJobKey(k string) (msg, hint string, fatal bool) {
	switch k {
	case "trigger":
		return "downstream pipelines are not supported", "run the child pipeline's file with pipe run -f FILE", true
	case "secrets":
		return "external secrets (Vault, cloud providers) are not supported", "pass the values as variables in the environment and read them in the script", true
	case "run":
		return "CI/CD steps are not supported", "write the commands in script:", true
	case "interruptible":
		return "ignored", "pipe cancels a run only on Ctrl-C", false
	case "tags":
		return "ignored: pipe runs every job on this machine", "", false
	case "coverage":
		return "ignored: pipe does not parse coverage from the log", "", false
	case "environment":
		return "ignored: pipe records no deployments; the script still runs", "", false
	case "resource_group":
		return "ignored: pipe does not serialize jobs across pipelines", "", false
	case "id_tokens":
		return "ignored: pipe issues no OIDC tokens", "", false
	case "release":
		return "ignored: pipe creates no GitLab release", "", false
	case "pages", "publish":
		return "ignored: pipe deploys no GitLab Pages; the artifacts are the step's outputs", "", false
	case "hooks":
		return "ignored: pipe runs no runner hooks", "put the commands in before_script:", false
	case "dast_configuration", "identity":
		return "ignored: a GitLab service pipe cannot reach", "", false
	case "manual_confirmation":
		return "ignored: naming the job on the command line confirms it", "", false
	case "start_in":
		return "ignored: a delayed job runs at once", "", false
	}
	return "", "", false
}

// inherit reads inherit: default and variables (true, false or a list).
func (t *translator) inherit(j *jobInfo) (func(string) bool, func(string) bool) {
	all := func(string) bool { return true }
	inh := j.n.get("inherit")
	if inh == nil {
		return all, all
	}
	read := func(key string) func(string) bool {
		v := inh.get(key)
		if v == nil {
			return all
		}
		if b, ok := boolOf(v); ok {
			return func(string) bool { return b }
		}
		list, ok := strList(v)
		if !ok {
			t.errorf(v.pos, "write true, false or a list of names", "%s.inherit.%s: expected true, false or a list, found %s", j.name, key, kindName(v))
		}
		return func(s string) bool { return slices.Contains(list, s) }
	}
	for _, k := range inh.keys {
		if k.value != "default" && k.value != "variables" {
			t.errorf(k.pos, "known keys: default, variables", "%s.inherit: unknown key %q", j.name, k.value)
		}
	}
	return read("default"), read("variables")
}

// applyDefaults gives the job the default: keys it does not set itself.
func (t *translator) applyDefaults(j *jobInfo, inherit func(string) bool) {
	for i, k := range t.defaults.keys {
		if j.n.get(k.value) == nil && inherit(k.value) && t.copyOK(t.defaults.vals[i]) {
			j.n.set(k, t.defaults.vals[i].clone())
		}
	}
}

func filterVars(list []variable, keep func(string) bool) []variable {
	var out []variable
	for _, v := range list {
		if keep(v.name) {
			out = append(out, v)
		}
	}
	return out
}

func varNames(lists ...[]variable) []string {
	var out []string
	for _, l := range lists {
		for _, v := range l {
			if !slices.Contains(out, v.name) {
				out = append(out, v.name)
			}
		}
	}
	return out
}

// decide evaluates rules: (or only:/except:) and when:, and reports
// whether the job is in the pipeline.
func (t *translator) decide(j *jobInfo) bool {
	n := j.n
	j.when = "on_success"
	if w := n.get("when"); w != nil {
		if j.when = checkWhen(t.evaluator(j.vars), w, j.name+".when"); j.when == "" {
			j.when = "on_success" // reported
		}
	}
	allowNode := n.get("allow_failure")
	manualDefault := j.when == "manual"
	if rules := n.get("rules"); rules != nil {
		for _, key := range []string{"only", "except"} {
			if kn := n.keyNode(key); kn != nil {
				t.errorf(kn.pos, "keep rules: and drop "+key+":", "%s: rules: cannot be used with %s:, as in GitLab", j.name, key)
				return false
			}
		}
		res := t.evaluator(j.vars).rules(rules, j.name+".rules")
		if !res.matched {
			return false
		}
		if res.when != "" {
			j.when = res.when
			manualDefault = false // a manual rule blocks unless it allows failure
		}
		if res.allowFailure != nil {
			allowNode = res.allowFailure
		}
		if res.variables != nil {
			rv := t.variables(res.variables, j.name+".rules.variables")
			t.setVariables(j.vars, rv)
			j.fileVars = append(j.fileVars, varNames(rv)...)
		}
	} else if !t.evaluator(j.vars).onlyExcept(n.get("only"), n.get("except")) {
		return false
	}
	if j.when == "never" || j.when == "" {
		return false
	}
	if j.when == "delayed" {
		t.warnf(n.keyNode("when").pos, "", "%s: when: delayed runs at once", j.name)
	}
	j.allow = manualDefault
	if allowNode != nil {
		t.allowFailure(j, allowNode)
	}
	return true
}

// allowFailure reads allow_failure: true|false or {exit_codes: N or [N]}.
func (t *translator) allowFailure(j *jobInfo, v *node) {
	if b, ok := boolOf(v); ok {
		j.allow = b
		return
	}
	codes := v.get("exit_codes")
	if !v.isMap() || codes == nil || len(v.keys) != 1 {
		t.errorf(v.pos, "write allow_failure: true, or allow_failure: {exit_codes: [137]}", "%s.allow_failure: expected true, false or exit_codes", j.name)
		return
	}
	items := []*node{codes}
	if codes.isSeq() {
		items = codes.items
	}
	j.allow = false
	for _, c := range items {
		i, ok := intOf(c)
		if !ok || i < 1 || i > 255 {
			t.errorf(c.pos, "an exit code is a number from 1 to 255", "%s.allow_failure.exit_codes: %s is not an exit code", j.name, describe(c))
			continue
		}
		j.codes = append(j.codes, i)
	}
}
