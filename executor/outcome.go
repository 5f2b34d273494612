package executor

import (
	"context"
	"fmt"
	"slices"

	"github.com/pipe-run/pipe/pipeline"
)

// node builds the scheduler's node of one step: its dependencies, when its
// failure is allowed (allow_failure, or only some exit codes), its retries
// and which outcomes of its dependencies let it run (when: status).
func (r *run) node(st *stepState) node {
	s := st.step
	n := node{name: s.Name, deps: s.Needs, allowFailure: s.AllowFailure, retries: s.Retry, runOn: s.RunOn,
		run: func(ctx context.Context, attempt int) (outcome, error) { return r.runStep(ctx, st, attempt) }}
	if len(s.AllowExitCodes) > 0 {
		// Read after the last attempt returned: the step's goroutine wrote
		// st.ran and st.exitCode before it reported to the coordinator.
		n.failureAllowed = func() bool { return !st.infra && s.FailureAllowed(st.ran, st.exitCode) }
	}
	return n
}

// skips returns why the step does not run on this run, or "": a manual step
// not named on the command line, or a `when` that does not match.
func (r *run) skips(s *pipeline.Step) string {
	if reason := r.manualSkips(s); reason != "" {
		return reason
	}
	return r.whenSkips(s)
}

// manualSkips returns why a manual step does not run, or "" when it was named
// on the command line (by its name, or its base name for a matrix).
func (r *run) manualSkips(s *pipeline.Step) string {
	if !s.Manual || slices.Contains(r.o.Targets, s.Name) || slices.Contains(r.o.Targets, s.Base) {
		return ""
	}
	return fmt.Sprintf("manual: runs only when named (pipe run %s)", s.Base)
}
