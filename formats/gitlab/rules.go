package gitlab

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/pipe-run/pipe/formats"
	"github.com/pipe-run/pipe/pipeline"
)

// evaluator decides rules:, only: and except: for the local git state.
type evaluator struct {
	ctx   formats.Context
	vars  *vars // variables visible to expressions: predefined, the file's, the job's
	errs  *pipeline.ErrorList
	warns *pipeline.ErrorList
}

func (e *evaluator) errorf(p pipeline.Pos, hint, format string, args ...any) {
	*e.errs = append(*e.errs, &pipeline.Error{Pos: p, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func (e *evaluator) warnf(p pipeline.Pos, hint, format string, args ...any) {
	*e.warns = append(*e.warns, &pipeline.Error{Pos: p, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// lookup reads a variable for an expression: the environment pipe runs in
// first (as GitLab's project variables win over the file's), then the
// file's and the predefined ones.
func (e *evaluator) lookup(name string) (string, bool) {
	if e.ctx.Env != nil {
		if v, ok := e.ctx.Env(name); ok {
			return v, true
		}
	}
	return e.vars.get(name)
}

// ruleResult is the rule that matched, if any.
type ruleResult struct {
	matched      bool
	when         string // as written in the rule; "" when it says nothing
	allowFailure *node
	variables    *node
	at           pipeline.Pos // where the rule is
}

func ruleKeys() []string {
	return []string{"if", "changes", "exists", "when", "allow_failure", "variables", "needs", "start_in", "interruptible"}
}

// rules returns the first rule whose clauses all hold.
func (e *evaluator) rules(n *node, field string) ruleResult {
	if !n.isSeq() {
		e.errorf(n.pos, "write rules: as a list, e.g. - if: $CI_COMMIT_BRANCH == \"main\"", "%s: expected a list, found %s", field, kindName(n))
		return ruleResult{}
	}
	for _, r := range flatten(n.items, 0) {
		if !r.isMap() {
			e.errorf(r.pos, "each rule is a mapping: - if: ..., when: ...", "%s: expected a rule, found %s", field, kindName(r))
			continue
		}
		if e.ruleHolds(r, field) {
			return ruleResult{matched: true, when: strValue(r.get("when")), allowFailure: r.get("allow_failure"), variables: r.get("variables"), at: r.pos}
		}
	}
	return ruleResult{}
}

// ruleHolds evaluates the clauses of one rule.
func (e *evaluator) ruleHolds(r *node, field string) bool {
	ok := true
	for i, k := range r.keys {
		v := r.vals[i]
		switch k.value {
		case "if":
			ok = e.ifHolds(v, field+".if") && ok
		case "changes":
			ok = e.changes(v, field+".changes") && ok
		case "exists":
			ok = e.exists(v, field+".exists") && ok
		case "when":
			checkWhen(e, v, field+".when")
		case "allow_failure", "variables":
		case "needs", "start_in", "interruptible":
			e.warnf(k.pos, "pipe keeps the job's own "+k.value, "%s.%s is ignored", field, k.value)
		default:
			e.errorf(k.pos, "known keys: "+strings.Join(ruleKeys(), ", "), "%s: unknown key %q", field, k.value)
		}
	}
	return ok
}

// ifHolds evaluates an if: expression.
func (e *evaluator) ifHolds(v *node, field string) bool {
	if !v.isStr() {
		e.errorf(v.pos, `write for example if: $CI_COMMIT_BRANCH == "main"`, "%s: expected an expression, found %s", field, kindName(v))
		return false
	}
	ok, err := evalExpr(v.value, e.lookup)
	if err != nil {
		e.errorf(exprPos(v, err), "GitLab's expressions: $VAR, \"string\", /regex/, null, == != =~ !~ && || ( )", "%s: %v", field, err)
		return false
	}
	return ok
}

// exprPos is the position of an expression's problem: the column of its
// offset when the expression is on one line.
func exprPos(v *node, err error) pipeline.Pos {
	p := v.pos
	if ee, ok := err.(*exprError); ok && !strings.Contains(v.value, "\n") && v.tag == "!!str" {
		// Plain and quoted scalars start at pos; for quoted ones the first
		// character is the quote. Good enough to point at the token.
		p.Col += ee.off
	}
	return p
}

// changes reports whether a changed path matches one of the globs. With
// the changed paths unknown (no base to compare with), it holds, as GitLab
// does for a new branch.
func (e *evaluator) changes(v *node, field string) bool {
	paths := v
	if v.isMap() {
		paths = v.get("paths")
		for _, k := range v.keys {
			switch k.value {
			case "paths":
			case "compare_to":
				e.warnf(k.pos, "pass the base with --since", "%s.compare_to is ignored: pipe compares with the base it was given", field)
			default:
				e.errorf(k.pos, "known keys: paths, compare_to", "%s: unknown key %q", field, k.value)
			}
		}
	}
	globs := e.globList(paths, field)
	if e.ctx.Changed == nil {
		return true
	}
	for _, c := range e.ctx.Changed {
		for _, g := range globs {
			if matchGitLabGlob(g, c) {
				return true
			}
		}
	}
	return false
}

// exists reports whether a repository file matches one of the globs.
func (e *evaluator) exists(v *node, field string) bool {
	paths := v
	if v.isMap() {
		paths = v.get("paths")
		for _, k := range v.keys {
			if k.value != "paths" {
				e.errorf(k.pos, "pipe checks this repository's files only: use paths:", "%s.%s is not supported", field, k.value)
			}
		}
	}
	for _, g := range e.globList(paths, field) {
		if e.ctx.Glob == nil {
			return false
		}
		for _, alt := range expandBraces(g) {
			if m, err := e.ctx.Glob(alt); err == nil && len(m) > 0 {
				return true
			}
		}
	}
	return false
}

func (e *evaluator) globList(n *node, field string) []string {
	list, ok := strList(n)
	if !ok {
		e.errorf(nodePos(n), `write a list of paths, e.g. ["src/**/*.go", Dockerfile]`, "%s: expected a list of paths, found %s", field, kindName(n))
		return nil
	}
	for i := range list {
		list[i] = strings.TrimPrefix(expandVars(list[i], e.lookup), "/")
	}
	return list
}

// matchGitLabGlob matches a path as GitLab's changes: does (fnmatch with
// ** across directories and {a,b} alternatives).
func matchGitLabGlob(pattern, name string) bool {
	for _, p := range expandBraces(pattern) {
		if pipeline.MatchGlob(p, name) {
			return true
		}
	}
	return false
}

// expandBraces expands {a,b} alternatives (not nested), at most 64 results.
func expandBraces(p string) []string {
	i := strings.IndexByte(p, '{')
	j := strings.IndexByte(p, '}')
	if i < 0 || j < i {
		return []string{p}
	}
	var out []string
	for _, alt := range strings.Split(p[i+1:j], ",") {
		for _, rest := range expandBraces(p[j+1:]) {
			if len(out) < 64 {
				out = append(out, p[:i]+alt+rest)
			}
		}
	}
	return out
}

// onlyExcept reports whether a job with only:/except: is in the pipeline.
func (e *evaluator) onlyExcept(only, except *node) bool {
	in := true
	if only != nil {
		in = e.refCondition(only, "only")
	}
	if except != nil && e.refCondition(except, "except") {
		in = false
	}
	return in
}

// refCondition evaluates an only: or except: value: a list of refs, or a
// mapping of refs, variables and changes that must all hold.
func (e *evaluator) refCondition(n *node, field string) bool {
	if !n.isMap() {
		return e.refs(n, field)
	}
	ok := true
	for i, k := range n.keys {
		v := n.vals[i]
		sub := field + "." + k.value
		switch k.value {
		case "refs":
			ok = e.refs(v, sub) && ok
		case "variables":
			list, good := strList(v)
			if !good {
				e.errorf(v.pos, `write a list of expressions, e.g. [$RELEASE == "yes"]`, "%s: expected a list, found %s", sub, kindName(v))
			}
			any := false
			for j, expr := range list {
				any = e.ifHolds(&node{kind: kScalar, tag: "!!str", value: expr, pos: itemPos(v, j)}, sub) || any
			}
			ok = any && ok
		case "changes":
			ok = e.changes(v, sub) && ok
		case "kubernetes":
			e.warnf(k.pos, "pipe runs no Kubernetes integration", "%s is ignored", sub)
		default:
			e.errorf(k.pos, "known keys: refs, variables, changes", "%s: unknown key %q", field, k.value)
		}
	}
	return ok
}

// refs reports whether the run's ref matches one entry of a refs list.
func (e *evaluator) refs(n *node, field string) bool {
	list, ok := strList(n)
	if !ok {
		e.errorf(nodePos(n), "write a list, e.g. [main, tags, /^release-.*$/]", "%s: expected a list of refs, found %s", field, kindName(n))
		return false
	}
	ref := e.ctx.Branch
	if e.ctx.Tag != "" {
		ref = e.ctx.Tag
	}
	for j, r := range list {
		if e.refMatches(r, ref, itemPos(n, j), field) {
			return true
		}
	}
	return false
}

func (e *evaluator) refMatches(r, ref string, at pipeline.Pos, field string) bool {
	source := pipelineSource(e.ctx.Event)
	switch r {
	case "branches":
		return e.ctx.Tag == ""
	case "tags":
		return e.ctx.Tag != ""
	case "merge_requests":
		return source == "merge_request_event"
	case "pushes":
		return source == "push"
	case "web", "api", "triggers", "pipelines", "chat", "external", "external_pull_requests":
		return strings.TrimSuffix(source, "s") == strings.TrimSuffix(r, "s")
	case "schedules":
		return source == "schedule"
	}
	if i := strings.IndexByte(r, '@'); i >= 0 && !strings.HasPrefix(r, "/") {
		e.warnf(at, "pipe runs this repository only", "%s: %q: the @project part is ignored", field, r)
		r = r[:i]
	}
	if len(r) >= 2 && r[0] == '/' && strings.LastIndexByte(r, '/') > 0 {
		end := strings.LastIndexByte(r, '/')
		pat := r[1:end]
		if strings.Contains(r[end+1:], "i") {
			pat = "(?i)" + pat
		}
		re, err := regexp.Compile(pat)
		if err != nil {
			e.errorf(at, "fix the regular expression", "%s: %q: %v", field, r, err)
			return false
		}
		return re.MatchString(ref)
	}
	return r == ref
}

// whens are the values of when: in a job.
func whens() []string {
	return []string{"on_success", "on_failure", "always", "manual", "delayed", "never"}
}

// checkWhen reports a when: value GitLab does not know.
func checkWhen(e *evaluator, v *node, field string) string {
	s := strValue(v)
	if !v.isStr() || !slices.Contains(whens(), s) {
		e.errorf(nodePos(v), "use on_success, on_failure, always, manual, delayed or never", "%s: unknown value %s", field, describe(v))
		return ""
	}
	return s
}

func describe(n *node) string {
	if n.isStr() {
		return fmt.Sprintf("%q", n.value)
	}
	return kindName(n)
}
