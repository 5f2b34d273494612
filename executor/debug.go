package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/pipeline"
)

// pipe debug: a failed step's container, kept alive with a shell in it.
//
// Debug brings the step's dependencies up to date exactly as Run does (the
// step cache when their keys match, else their containers), then runs the
// step itself in its container, as Run would (image, env, secrets, caches,
// services, workdir, user, limits, network), but with Spec.KeepAlive: when
// its main process has ended, the container's own init is still there, and
// the shell is started by it through Container.Exec, inside the step's
// namespaces, cgroup, capabilities and seccomp filter, as the step's user.
// Nothing joins the container's namespaces from outside, and the shell never
// has more privilege than the step had. Leaving the shell destroys the
// container and its services; the debugged step's result is never committed
// to the step cache (the shell may have changed its files).

// DebugOptions configure Debug. Options gives the runtime, the store, the
// sink of the dependencies' and the step's events, the repo, env and secrets,
// exactly as for Run (Targets and KeepFailed are ignored).
type DebugOptions struct {
	Options

	// Shell is the shell to open; "" is the image's bash, else sh.
	Shell string
	// Before opens the shell before the step's script runs, with the script
	// in ScriptPath.
	Before bool
	// At stops before the At-th command (1-based) of a list-form run: only
	// commands 1..At-1 run, then the shell opens, with the rest in ScriptPath.
	At int
	// Break is like At, for the first command that matches this regular
	// expression.
	Break string
	// Always opens the shell also when the step succeeds.
	Always bool

	// Interactive says Stdin and Stdout are a terminal. Without it Debug
	// opens no shell: OnShell says what it would have opened, and Debug
	// returns the step's exit code.
	Interactive bool
	// Stdin and Stdout are the shell's terminal. A Stdin that is an *os.File
	// terminal is put in raw mode, and its size follows SIGWINCH.
	Stdin  io.Reader
	Stdout io.Writer
	// OnShell, if set, is called right before the shell opens (or, without
	// Interactive, instead of opening it), e.g. to print what is happening.
	OnShell func(DebugShell)

	// Last reopens the state `pipe run --keep-failed` kept of the last failed
	// step (of the named step, when Debug is given one) instead of running
	// anything. Secrets come from LookupSecret again: their values are never
	// kept on disk.
	Last         bool
	LookupSecret func(name string) (string, bool)
	// Export, with Last's state, writes that state as an OCI image tarball
	// (docker load and pipe image import read it) to this file instead of
	// opening a shell.
	Export string
}

// ScriptPath is where --before, --at and --break write the step's (remaining)
// commands in the container: outside /workspace, so never in its output layer.
const ScriptPath = "/tmp/pipe-step.sh"

// DebugShell describes the shell Debug opens.
type DebugShell struct {
	Step     string
	Status   string   // what happened, as the prompt says: "'go test ./...' exited 1"
	ExitCode int      // the step's exit code (0 when it succeeded or has not run)
	Args     []string // the shell's argv in the container
	Dir      string   // its working dir
	Script   string   // ScriptPath when the step's commands were written there, else ""
	Prompt   string   // the prompt it shows, e.g. "[pipe debug build: 'make' exited 2] /workspace # "
}

// NotRunError says the debugged step never ran because of what it needs.
type NotRunError struct {
	Step   string
	Reason string
}

func (e *NotRunError) Error() string {
	return fmt.Sprintf("step %s did not run: %s", e.Step, e.Reason)
}

// Debug runs step of p (after bringing its dependencies up to date) in its
// container and opens a shell in it when it fails (see DebugOptions for
// --before, --at, --break, --always, --last and --export). It returns the
// step's exit code when the step ran to its end, the shell's when the shell
// opened before the end (Before, At, Break), 0 after Export. Its error is
// about pipe or the request: an unknown step (*pipeline.UnknownStepError), a
// dependency that failed (*NotRunError), a missing secret, an infra failure.
func Debug(ctx context.Context, p *pipeline.Pipeline, step string, o DebugOptions) (int, error) {
	if o.Runtime == nil && o.Export == "" || o.Store == nil {
		return 0, errors.New("executor: DebugOptions.Runtime and Store are required")
	}
	if o.Last || o.Export != "" {
		return debugKept(ctx, step, o)
	}
	if o.Sink == nil {
		return 0, errors.New("executor: DebugOptions.Sink is required")
	}
	s, err := lookupStep(p, step)
	if err != nil {
		return 0, err
	}
	stop, err := stopBefore(s, o)
	if err != nil {
		return 0, err
	}
	return debugRun(ctx, withoutRetry(p, s), &debugTarget{step: s.Name, o: &o, stop: stop})
}

// lookupStep finds one step by name, saying what to type instead of a
// matrix base name or a typo.
func lookupStep(p *pipeline.Pipeline, name string) (*pipeline.Step, error) {
	if s := p.Graph.Step(name); s != nil {
		return s, nil
	}
	steps, err := p.Graph.Lookup(name)
	if err != nil {
		return nil, err
	}
	if len(steps) == 1 {
		return steps[0], nil
	}
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = s.Name
	}
	return nil, &pipeline.UnknownStepError{Name: name, Suggestion: names[0]}
}

// stopBefore returns the command to stop before (1-based), 0 for none.
func stopBefore(s *pipeline.Step, o DebugOptions) (int, error) {
	n := 0
	switch {
	case o.Before:
		n = 1
	case o.At != 0 || o.Break != "":
		if s.Script {
			return 0, fmt.Errorf("step %s: --at and --break stop before a command of a list-form run, and its run is a script: use --before", s.Name)
		}
		var err error
		if n, err = breakIndex(s, o.At, o.Break); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// breakIndex resolves --at N or --break PATTERN against the step's commands.
func breakIndex(s *pipeline.Step, at int, pattern string) (int, error) {
	if pattern == "" {
		if at < 1 || at > len(s.Run) {
			return 0, fmt.Errorf("step %s: --at %d: it has commands 1 to %d", s.Name, at, len(s.Run))
		}
		return at, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return 0, fmt.Errorf("--break %q: %w", pattern, err)
	}
	for i, c := range s.Run {
		if re.MatchString(c) {
			return i + 1, nil
		}
	}
	return 0, fmt.Errorf("step %s: --break %q matches none of its commands:\n  %s", s.Name, pattern, strings.Join(s.Run, "\n  "))
}

// withoutRetry returns p with the debugged step never retried: one container,
// one shell.
func withoutRetry(p *pipeline.Pipeline, s *pipeline.Step) *pipeline.Pipeline {
	if s.Retry == 0 {
		return p
	}
	c := *s
	c.Retry = 0
	q := *p
	q.Steps = make([]*pipeline.Step, len(p.Steps))
	for i, t := range p.Steps {
		q.Steps[i] = t
		if t == s {
			q.Steps[i] = &c
		}
	}
	g, err := pipeline.NewGraph(q.Steps)
	if err != nil { // the same graph as p's, which is valid
		return p
	}
	q.Graph = g
	return &q
}

// debugTarget is the step a debug run stops in.
type debugTarget struct {
	step string
	o    *DebugOptions
	stop int // run commands 1..stop-1 only, then the shell; 0: the whole step

	ran  bool // its container ran
	code int  // what Debug returns
}

// debugRun runs the step's dependencies and the step, with the shell.
func debugRun(ctx context.Context, p *pipeline.Pipeline, d *debugTarget) (code int, err error) {
	opts := d.o.Options
	opts.Targets, opts.KeepFailed = []string{d.step}, false
	r, err := newRun(ctx, p, opts)
	if err != nil {
		return 0, err
	}
	r.debug = d
	defer func() {
		if derr := r.close(); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	if err := r.prepare(ctx); err != nil {
		return 0, err
	}
	if _, err := r.execute(ctx); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if !d.ran {
		return 0, r.notRun(d.step)
	}
	return d.code, nil
}

// notRun says why the debugged step did not run.
func (r *run) notRun(step string) error {
	st := r.states[r.index[step]]
	var failed []string
	for _, i := range r.ancestors(st.step) {
		if r.states[i].status == runlog.StatusFailed {
			failed = append(failed, r.steps[i].Name)
		}
	}
	switch {
	case len(failed) > 0:
		return &NotRunError{Step: step, Reason: fmt.Sprintf("step %s, which it needs, failed: debug that one first (pipe debug %s)", failed[0], failed[0])}
	case st.err != nil:
		return fmt.Errorf("step %s: %w", step, st.err)
	}
	return &NotRunError{Step: step, Reason: string(st.status)}
}

// debugging reports whether s is the step a debug run stops in.
func (r *run) debugging(s *pipeline.Step) bool {
	return r.debug != nil && r.debug.step == s.Name
}

// debugStep is the node of the debugged step: never skipped by `when`,
// never a cache hit.
func (r *run) debugStep(ctx context.Context, st *stepState, attempt int) (outcome, error) {
	if attempt == 1 {
		st.start = time.Now()
		if err := r.computeKey(st); err != nil {
			st.err, st.infra = err, true
			return outcomeFailed, err
		}
	}
	return r.attempt(ctx, st, attempt)
}

// containerFunc is how one attempt of s runs its container.
func (r *run) containerFunc(s *pipeline.Step) func(context.Context, *stepState, *runlog.StepLog) (outcome, error) {
	if r.debugging(s) {
		return r.debugContainer
	}
	if r.o.Pods != nil {
		return r.runPod
	}
	return r.runContainer
}
