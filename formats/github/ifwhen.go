package github

import (
	"strings"
)

// A job's if: made only of conditions on the branch and the event, joined
// by &&, becomes the step's when: {branch, event}, which pipe decides when
// it runs: the .pipe.yml of pipe convert keeps a deploy job gated on main
// whatever branch it was converted on.

// ifAsWhen returns the when.branch and when.event patterns of an if:, and
// false when it is anything else.
func ifAsWhen(s string) (branch, event []string, ok bool) {
	s = strings.TrimSpace(s)
	if sp, err := findExprs(s); err == nil && len(sp) == 1 && sp[0].start == 0 && sp[0].end == len(s) {
		s = sp[0].inner
	} else if err != nil || len(sp) > 0 {
		return nil, nil, false
	}
	n, err := parseExpr(s)
	if err != nil || hasStatus(n) {
		return nil, nil, false
	}
	for _, term := range conjuncts(n) {
		kind, pat, ok := whenTerm(term)
		if !ok {
			return nil, nil, false
		}
		if kind == "branch" {
			branch = append(branch, pat)
		} else {
			event = append(event, pat)
		}
	}
	if positives(branch) > 1 || positives(event) > 1 {
		return nil, nil, false // a && of two values never holds; pipe's list would be an or
	}
	return branch, event, true
}

func conjuncts(n node) []node {
	if b, ok := n.(*binaryNode); ok && b.op == "&&" {
		return append(conjuncts(b.l), conjuncts(b.r)...)
	}
	return []node{n}
}

func positives(list []string) int {
	n := 0
	for _, p := range list {
		if !strings.HasPrefix(p, "!") {
			n++
		}
	}
	return n
}

// whenTerm maps one condition: github.ref == 'refs/heads/X' (or !=),
// github.ref_name == 'X', github.event_name == 'E', startsWith(github.ref,
// 'refs/heads/P') and startsWith(github.ref, 'refs/tags/').
func whenTerm(n node) (kind, pattern string, ok bool) {
	switch n := n.(type) {
	case *binaryNode:
		if n.op != "==" && n.op != "!=" {
			return "", "", false
		}
		ref, lit, ok := refAndLiteral(n.l, n.r)
		if !ok {
			return "", "", false
		}
		neg := ""
		if n.op == "!=" {
			neg = "!"
		}
		switch ref {
		case "ref":
			b, ok := strings.CutPrefix(lit, "refs/heads/")
			if !ok || !plainName(b) {
				return "", "", false
			}
			return "branch", neg + b, true
		case "ref_name":
			if !plainName(lit) {
				return "", "", false
			}
			return "branch", neg + lit, true
		case "event_name":
			if ev := pipeEvent(lit); ev != "" {
				return "event", neg + ev, true
			}
		}
	case *callNode:
		if n.name != "startswith" || len(n.args) != 2 {
			return "", "", false
		}
		ref, lit, ok := refAndLiteral(n.args[0], n.args[1])
		if !ok || ref != "ref" {
			return "", "", false
		}
		if lit == "refs/tags/" {
			return "event", "tag", true
		}
		if p, ok := strings.CutPrefix(lit, "refs/heads/"); ok && p != "" && plainName(p) {
			return "branch", p + "**", true
		}
	}
	return "", "", false
}

// refAndLiteral finds github.<prop> on the left and a string on the right.
func refAndLiteral(l, r node) (string, string, bool) {
	root, path, ok := staticPath(l)
	lit, isLit := r.(*litNode)
	if !ok || !isLit || root != "github" || len(path) != 1 {
		return "", "", false
	}
	s, isStr := lit.v.(string)
	return strings.ToLower(path[0]), s, isStr
}

// plainName reports whether a branch name holds no glob character.
func plainName(s string) bool { return s != "" && !strings.ContainsAny(s, "*?[]!{}\\") }

// pipeEvent is pipe's event for a GitHub event name; "" when pipe has none.
func pipeEvent(e string) string {
	switch e {
	case "push", "schedule":
		return e
	case "pull_request", "pull_request_target":
		return "pull_request"
	case "workflow_dispatch":
		return "manual"
	}
	return ""
}
