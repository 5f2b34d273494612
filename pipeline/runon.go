package pipeline

import (
	"slices"

	"gopkg.in/yaml.v3"
)

// RunOn says which outcomes of the steps a step needs let it run.
type RunOn string

// The run-on conditions of a step (when: {status: ...} in a .pipe.yml).
const (
	// RunOnSuccess runs the step when every step it needs succeeded or was
	// allowed to fail (the default).
	RunOnSuccess RunOn = ""
	// RunOnFailure runs the step only when a step it needs, directly or
	// not, failed (an allowed failure does not count); otherwise it is
	// skipped. It runs after fail fast has stopped the other steps.
	RunOnFailure RunOn = "failure"
	// RunAlways runs the step once every step it needs has ended, whatever
	// their outcome, also after a failure. An interrupted run (Ctrl-C)
	// still cancels it.
	RunAlways RunOn = "always"
)

// statuses are the values of when.status, as written.
func statuses() []string { return []string{"success", "failure", "always"} }

// status decodes when.status.
func (ps *parser) status(n *yaml.Node, field string) (RunOn, bool) {
	s, ok := ps.str(n, field, "status: failure")
	if !ok {
		return RunOnSuccess, false
	}
	switch s {
	case "success":
		return RunOnSuccess, true
	case "failure":
		return RunOnFailure, true
	case "always":
		return RunAlways, true
	}
	ps.errorf(n, ps.suggestHint(s, statuses(), "use success (the default), failure or always"), "%s: unknown status %s", field, quote(s))
	return RunOnSuccess, false
}

// allowFailure decodes allow_failure: true|false, or {exit_codes: [N, ...]}.
func (ps *parser) allowFailure(n *yaml.Node, field string, t *Step) {
	if d := deref(n); d == nil || d.Kind != yaml.MappingNode {
		if b, ok := ps.boolean(n, field); ok {
			t.AllowFailure = b
		}
		return
	}
	for _, f := range ps.mapping(n, field, "allow_failure: {exit_codes: [3]}") {
		if f.key != "exit_codes" {
			ps.unknownKey(f, field, []string{"exit_codes"})
			continue
		}
		t.AllowExitCodes = ps.exitCodes(f.v, field+".exit_codes")
	}
}

// exitCodes decodes a list of exit codes (or one), each from 1 to 255.
func (ps *parser) exitCodes(n *yaml.Node, field string) []int {
	items := []*yaml.Node{n}
	if d := deref(n); d != nil && d.Kind == yaml.SequenceNode {
		items = d.Content
		if len(items) == 0 {
			ps.errorf(n, "list at least one exit code, e.g. exit_codes: [3]", "%s is empty", field)
		}
	}
	var out []int
	for _, c := range items {
		v, ok := ps.integer(c, field, "exit_codes: [3, 137]")
		if !ok {
			continue
		}
		if v < 1 || v > 255 {
			ps.errorf(c, "an exit code of a failure is from 1 to 255", "%s: %d is out of range", field, v)
			continue
		}
		if !slices.Contains(out, int(v)) {
			out = append(out, int(v))
		}
	}
	return out
}

// FailureAllowed reports whether a failure of the step does not fail the
// pipeline: always with AllowFailure, else when the step's process ran and
// exited with one of AllowExitCodes.
func (s *Step) FailureAllowed(ran bool, exitCode int) bool {
	return s.AllowFailure || ran && slices.Contains(s.AllowExitCodes, exitCode)
}
