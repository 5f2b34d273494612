package gitlab

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pipe-run/pipe/formats"
	"github.com/pipe-run/pipe/pipeline"
)

// Translate translates the GitLab CI file filename (its bytes data) into a
// pipeline for the git state and repository of ctx. Errors are a
// pipeline.ErrorList at positions of the original files.
func Translate(filename string, data []byte, ctx formats.Context) (tr *formats.Translation, err error) {
	defer func() {
		// Bad input must never crash pipe: a panic is a bug of pipe,
		// reported at the file rather than as a crash.
		if r := recover(); r != nil {
			tr, err = nil, pipeline.ErrorList{{Pos: pipeline.Pos{File: filename, Line: 1, Col: 1},
				Msg: fmt.Sprintf("internal error while translating the file: %v", r), Hint: "please report this bug with the file"}}
		}
	}()
	t := &translator{file: filename, ctx: ctx}
	r := &reader{ctx: ctx, budget: maxNodes}
	root := r.load(filename, data)
	t.errs, t.warns = r.errs, r.warns
	if root == nil {
		return nil, t.errList()
	}
	// Every phase runs whatever the earlier ones found, so that one run
	// reports every problem; finish parses only a file without any.
	t.resolveExtends(root)
	t.resolveReferences(root)
	t.root = root
	t.top()
	t.resolveNeeds()
	return t.finish()
}

// translator holds one translation.
type translator struct {
	file   string
	ctx    formats.Context
	errs   pipeline.ErrorList
	warns  pipeline.ErrorList
	hints  int
	copies int // values copied so far (maxCopies bounds them)

	root     *node
	stages   []string
	global   []variable // the file's variables:, in order
	wfVars   []variable // variables set by the matching workflow rule
	defaults *node      // default: over the old top-level image, services, ...
	jobs     []*jobInfo // the jobs in the pipeline, in file order
	allJobs  map[string]bool
	steps    map[string]bool // step names taken
}

func (t *translator) errorf(p pipeline.Pos, hint, format string, args ...any) {
	if p.File == "" {
		p.File = t.file
	}
	t.errs = append(t.errs, &pipeline.Error{Pos: p, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func (t *translator) warnf(p pipeline.Pos, hint, format string, args ...any) {
	if p.File == "" {
		p.File = t.file
	}
	t.warns = append(t.warns, &pipeline.Error{Pos: p, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// suggest returns a did-you-mean hint, within a budget.
func (t *translator) suggest(s string, candidates []string, fallback string) string {
	if t.hints++; t.hints > 100 {
		return fallback
	}
	best, bestD := "", 3
	for _, c := range candidates {
		if d := distance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return fallback
	}
	return fmt.Sprintf("did you mean %q?", best)
}

// distance is the Levenshtein distance, bounded for long strings.
func distance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// copyOK counts a copy of n against maxCopies, reporting once when the
// file copies too much (a small file can copy a big default: into
// thousands of jobs).
func (t *translator) copyOK(n *node) bool {
	if t.copies > maxCopies {
		return false
	}
	if t.copies += size(n, maxCopies); t.copies > maxCopies {
		t.errorf(n.pos, "copy less through default:, extends: and !reference", "the file expands to more than %d values", maxCopies)
		return false
	}
	return true
}

func (t *translator) errList() error {
	return sortErrors(t.errs)
}

// sortErrors sorts by position and drops duplicates.
func sortErrors(l pipeline.ErrorList) pipeline.ErrorList {
	slices.SortStableFunc(l, func(a, b *pipeline.Error) int {
		switch {
		case a.Pos.File != b.Pos.File:
			return strings.Compare(a.Pos.File, b.Pos.File)
		case a.Pos.Line != b.Pos.Line:
			return a.Pos.Line - b.Pos.Line
		case a.Pos.Col != b.Pos.Col:
			return a.Pos.Col - b.Pos.Col
		}
		return strings.Compare(a.Msg, b.Msg)
	})
	return slices.CompactFunc(l, func(a, b *pipeline.Error) bool { return *a == *b })
}

// reservedKey reports whether a top-level key is a keyword, not a job.
func reservedKey(k string) bool {
	switch k {
	case "image", "services", "cache", "before_script", "after_script", "variables", "stages", "types",
		"include", "default", "workflow", "spec":
		return true
	}
	return false
}

// defaultKeys are what default: may hold.
func defaultKeys() []string {
	return []string{"image", "services", "cache", "before_script", "after_script", "artifacts", "retry", "timeout",
		"interruptible", "tags", "hooks", "id_tokens"}
}

// top reads the top-level keywords, then the jobs.
func (t *translator) top() {
	root := t.root
	t.defaults = &node{kind: kMap, tag: "!!map", pos: root.pos}
	for i, k := range root.keys {
		v := root.vals[i]
		switch k.value {
		case "image", "services", "cache", "before_script", "after_script":
			t.defaults.set(k, v)
		case "variables":
			t.global = t.variables(v, "variables")
		case "stages", "types":
			t.readStages(v)
		case "default":
			t.readDefault(v)
		case "workflow", "spec":
		default:
			if !v.isMap() && !strings.HasPrefix(k.value, ".") {
				t.errorf(k.pos, "a job is a mapping with a script:; top-level keywords are "+strings.Join(topKeywords(), ", "),
					"%s: unknown keyword, or a job that is not a mapping (found %s)", k.value, kindName(v))
			}
		}
	}
	if t.stages == nil {
		t.stages = []string{".pre", "build", "test", "deploy", ".post"}
	}
	if !t.workflow(root.get("workflow")) {
		return
	}
	t.readJobs()
}

func topKeywords() []string {
	return []string{"default", "include", "stages", "variables", "workflow", "image", "services", "cache", "before_script", "after_script"}
}

func (t *translator) readDefault(v *node) {
	if !v.isMap() {
		t.errorf(v.pos, "write default: as a mapping, e.g. default: {image: alpine:3.20}", "default: expected a mapping, found %s", kindName(v))
		return
	}
	for i, k := range v.keys {
		if !slices.Contains(defaultKeys(), k.value) {
			t.errorf(k.pos, "default: holds "+strings.Join(defaultKeys(), ", "), "default: unknown key %q", k.value)
			continue
		}
		t.defaults.set(k, v.vals[i])
		if msg, hint, _ := unsupportedJobKey(k.value); msg != "" {
			t.warnf(k.pos, hint, "default.%s: %s", k.value, msg)
		}
	}
}

// readStages reads stages:, with .pre first and .post last as GitLab adds them.
func (t *translator) readStages(v *node) {
	list, ok := strList(v)
	if !ok {
		t.errorf(v.pos, "write stages: [build, test, deploy]", "stages: expected a list of names, found %s", kindName(v))
		return
	}
	t.stages = []string{".pre"}
	for j, s := range list {
		switch {
		case s == ".pre" || s == ".post":
		case slices.Contains(t.stages, s):
			t.warnf(itemPos(v, j), "remove one", "stages: %q is listed twice", s)
		default:
			t.stages = append(t.stages, s)
		}
	}
	t.stages = append(t.stages, ".post")
}

// workflow applies workflow: rules, and reports whether the pipeline runs.
func (t *translator) workflow(w *node) bool {
	if w == nil {
		return true
	}
	if !w.isMap() {
		t.errorf(w.pos, "write workflow: {rules: [...]}", "workflow: expected a mapping, found %s", kindName(w))
		return false
	}
	for _, k := range w.keys {
		switch k.value {
		case "rules":
		case "name":
			t.warnf(k.pos, "pipe names a run by its id", "workflow.name is not shown")
		case "auto_cancel":
			t.warnf(k.pos, "pipe cancels nothing on its own: Ctrl-C stops a run", "workflow.auto_cancel is ignored")
		default:
			t.errorf(k.pos, "known keys: rules, name, auto_cancel", "workflow: unknown key %q", k.value)
		}
	}
	rules := w.get("rules")
	if rules == nil {
		return true
	}
	vs := predefined(t.ctx, nil)
	t.setVariables(vs, t.global)
	ev := t.evaluator(vs)
	res := ev.rules(rules, "workflow.rules")
	if len(t.errs) > 0 {
		return false
	}
	if !res.matched || res.when == "never" {
		why := "no rule matches"
		if res.matched {
			why = fmt.Sprintf("the rule at line %d says when: never", res.at.Line)
		}
		t.errorf(w.keyNode("rules").pos, "run on the branch or event the rules expect (PIPE_EVENT=push, a branch), or change the rules",
			"workflow: rules: no pipeline for this run (%s, source %s): %s", t.refDescription(), pipelineSource(t.ctx.Event), why)
		return false
	}
	if res.variables != nil {
		t.wfVars = t.variables(res.variables, "workflow.rules.variables")
	}
	return true
}

func (t *translator) refDescription() string {
	switch {
	case t.ctx.Tag != "":
		return "tag " + t.ctx.Tag
	case t.ctx.Branch != "":
		return "branch " + t.ctx.Branch
	}
	return "no branch"
}

func (t *translator) evaluator(vs *vars) *evaluator {
	return &evaluator{ctx: t.ctx, vars: vs, errs: &t.errs, warns: &t.warns}
}

// readJobs reads every job that is in the pipeline for this run.
func (t *translator) readJobs() {
	t.allJobs = map[string]bool{}
	t.steps = map[string]bool{}
	for i, k := range t.root.keys {
		if reservedKey(k.value) || !t.root.vals[i].isMap() || strings.HasPrefix(k.value, ".") {
			continue
		}
		t.allJobs[k.value] = true
	}
	for i, k := range t.root.keys {
		if !t.allJobs[k.value] {
			continue
		}
		if j := t.job(k, t.root.vals[i]); j != nil {
			t.jobs = append(t.jobs, j)
		}
	}
	if len(t.jobs) == 0 && len(t.errs) == 0 {
		t.errorf(t.root.pos, "add a job (a name with a script:), or check the rules for this run ("+t.refDescription()+")", "no job runs in this pipeline")
	}
}
