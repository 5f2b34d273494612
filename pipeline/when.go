package pipeline

import (
	"slices"

	"gopkg.in/yaml.v3"
)

// Events a pipeline run can be started by. The executor says which one.
const (
	EventPush        = "push"
	EventPullRequest = "pull_request"
	EventTag         = "tag"
	EventManual      = "manual" // pipe run on a developer's machine
	EventSchedule    = "schedule"
)

func events() []string {
	return []string{EventPush, EventPullRequest, EventTag, EventManual, EventSchedule}
}

func whenKeys() []string { return []string{"branch", "event", "env", "paths", "status"} }

// When says when a step runs. Every condition given must hold; within one
// condition, a value matches when it matches any pattern of the list and no
// pattern starting with "!". An empty list is no condition.
type When struct {
	Branch []string   // globs of the branch name: main, release/*
	Event  []string   // events: push, pull_request, tag, manual, schedule
	Env    []EnvMatch // variables of the environment pipe runs in
	Paths  []string   // globs of changed paths: any changed path must match
}

// EnvMatch is a condition on a variable of the environment pipe runs in: its
// value (empty when unset) must match the glob Pattern.
type EnvMatch struct {
	Name    string
	Pattern string
}

// Match reports whether a step with this condition runs. changed lists the
// paths changed by the run's commit(s); nil means unknown, in which case a
// paths condition holds. A nil When always matches.
func (w *When) Match(branch, event string, lookupEnv func(string) (string, bool), changed []string) bool {
	if w == nil {
		return true
	}
	if len(w.Branch) > 0 && !matchList(w.Branch, branch) {
		return false
	}
	if len(w.Event) > 0 && !matchList(w.Event, event) {
		return false
	}
	for _, e := range w.Env {
		v := ""
		if lookupEnv != nil {
			v, _ = lookupEnv(e.Name)
		}
		if !MatchGlob(e.Pattern, v) {
			return false
		}
	}
	if len(w.Paths) > 0 && changed != nil {
		return slices.ContainsFunc(changed, func(p string) bool { return matchList(w.Paths, p) })
	}
	return true
}

// matchList applies a pattern list with "!" exclusions to s.
func matchList(patterns []string, s string) bool {
	positive, hit := false, false
	for _, p := range patterns {
		if neg, ok := cutBang(p); ok {
			if MatchGlob(neg, s) {
				return false
			}
			continue
		}
		positive = true
		hit = hit || MatchGlob(p, s)
	}
	return hit || !positive
}

func cutBang(p string) (string, bool) {
	if len(p) > 0 && p[0] == '!' {
		return p[1:], true
	}
	return p, false
}

// when decodes a step's when: mapping: its conditions (nil when it has
// none), its status and the node of the status.
func (ps *parser) when(n *yaml.Node, field string) (*When, RunOn, *yaml.Node) {
	w := &When{}
	on, conds := RunOnSuccess, 0
	var statusNode *yaml.Node
	for _, f := range ps.mapping(n, field, "when: {branch: main}") {
		sub := field + "." + f.key
		if f.key != "status" {
			conds++
		}
		switch f.key {
		case "status":
			on, _ = ps.status(f.v, sub)
			statusNode = deref(f.v)
		case "branch":
			w.Branch = ps.patterns(f.v, sub)
		case "paths":
			w.Paths = ps.patterns(f.v, sub)
		case "event":
			w.Event = ps.eventList(f.v, sub)
		case "env":
			for _, e := range ps.mapping(f.v, sub, "env: {DEPLOY: \"1\"}") {
				if !IsEnvName(e.key) {
					ps.errorf(e.k, "use letters, digits and _", "%s: %s is not a valid variable name", sub, quote(e.key))
					continue
				}
				if p, ok := ps.str(e.v, sub+"."+e.key, e.key+": \"1\""); ok && ps.globOK(e.v, sub, p) {
					w.Env = append(w.Env, EnvMatch{Name: e.key, Pattern: p})
				}
			}
		default:
			ps.unknownKey(f, field, whenKeys())
		}
	}
	if conds == 0 && statusNode != nil {
		w = nil // only a status: no condition on the run
	}
	return w, on, statusNode
}

func (ps *parser) patterns(n *yaml.Node, field string) []string {
	list, nodes := ps.strs(n, field, field+": [main, \"release/*\"]")
	var out []string
	for i, p := range list {
		if ps.globOK(nodes[i], field, p) {
			out = append(out, p)
		}
	}
	return out
}

func (ps *parser) globOK(n *yaml.Node, field, p string) bool {
	q, _ := cutBang(p)
	if q == "" {
		return true // matches an empty value: unset variable, detached HEAD
	}
	if err := checkGlob(q); err != nil {
		ps.errorf(n, err.Error(), "%s: invalid pattern %s", field, quote(p))
		return false
	}
	return true
}

func (ps *parser) eventList(n *yaml.Node, field string) []string {
	list, nodes := ps.strs(n, field, "event: [push, tag]")
	var out []string
	for i, e := range list {
		q, _ := cutBang(e)
		if !slices.Contains(events(), q) {
			ps.errorf(nodes[i], ps.suggestHint(q, events(), "events are push, pull_request, tag, manual, schedule"), "%s: unknown event %s", field, quote(e))
			continue
		}
		out = append(out, e)
	}
	return out
}
