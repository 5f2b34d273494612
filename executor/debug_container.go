package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/isolation"
	"github.com/pipe-run/pipe/pipeline"
)

// debugContainer is runContainer for the debugged step: the same volumes,
// workspace, services and spec, but the container is kept alive after the
// main process and a shell is opened in it; nothing is committed.
func (r *run) debugContainer(ctx context.Context, st *stepState, log *runlog.StepLog) (outcome, error) {
	s := st.step
	mounts, release, err := r.acquireVolumes(ctx, s.Caches, log)
	if err != nil {
		return r.infraFailure(ctx, st, err)
	}
	defer release()
	upper, work, err := r.stagingPair()
	if err != nil {
		return r.infraFailure(ctx, st, err)
	}
	defer r.o.Store.RemoveStaging(work)
	defer r.o.Store.RemoveStaging(upper)
	spec := r.stepSpec(st, mounts, upper, work)
	r.debug.prepareSpec(spec, s, r.marker)
	svcs, err := r.startServices(ctx, st, spec, log)
	if err != nil {
		return r.infraFailure(ctx, st, err)
	}
	defer svcs.stop()
	if err := svcs.waitReady(ctx); err != nil {
		return r.infraFailure(ctx, st, err)
	}
	return r.debugMain(ctx, st, spec, log)
}

// debugMain runs the main process, then the shell, then destroys the
// container.
func (r *run) debugMain(ctx context.Context, st *stepState, spec *isolation.Spec, log *runlog.StepLog) (outcome, error) {
	s := st.step
	echo := newCommandEcho(r.marker, s.Run, log, log.Note)
	spec.Process.Stdout, spec.Process.Stderr = echo, echo
	c, err := r.o.Runtime.Start(ctx, spec)
	if err != nil {
		return r.infraFailure(ctx, st, fmt.Errorf("step %s: start container: %w", s.Name, err))
	}
	defer c.Destroy()
	res, err := waitWithTimeout(ctx, c, spec.Process, s.Timeout)
	echo.Flush()
	if err != nil {
		return r.infraFailure(ctx, st, fmt.Errorf("step %s: container: %w", s.Name, err))
	}
	st.ran, st.exitCode, st.peak = true, res.ExitCode, res.PeakMemory
	r.debug.ran, r.debug.code = true, res.ExitCode
	o, stepErr := outcomeOK, error(nil)
	if res.ExitCode != 0 || res.TimedOut || res.Canceled || res.OOMKilled {
		o, stepErr = outcomeFailed, stepError(s, res.ExitCode, res.TimedOut, res.OOMKilled, echo.Current())
	}
	if ctx.Err() != nil {
		return o, stepErr
	}
	sh := r.debug.shellFor(s, res, echo.Current(), stepErr)
	if sh == nil {
		log.Note("succeeded: no shell (pipe debug --always opens one anyway)")
		return o, stepErr
	}
	if err := r.debug.openShell(ctx, c, spec, s, sh); err != nil {
		return r.infraFailure(ctx, st, err)
	}
	return o, stepErr
}

// waitWithTimeout waits for the main process, killing it (not the container,
// which the shell still needs) when the step's timeout passes.
func waitWithTimeout(ctx context.Context, c Container, p isolation.Process, timeout time.Duration) (isolation.Result, error) {
	fired := make(chan struct{})
	t := time.AfterFunc(timeout, func() {
		close(fired)
		kill := isolation.Process{Args: []string{pipeline.Shell, "-c", "kill -KILL -1"}, Env: p.Env, Dir: "/", User: p.User}
		_, _ = c.Exec(ctx, kill) // kill(-1) spares init and the caller
	})
	res, err := c.Wait()
	if !t.Stop() {
		<-fired
		res.TimedOut = true
	}
	return res, err
}

// prepareSpec keeps the container alive after its main process, and cuts
// the commands to the ones before the stop.
func (d *debugTarget) prepareSpec(spec *isolation.Spec, s *pipeline.Step, marker string) {
	spec.KeepAlive = true
	if d.stop == 0 {
		return
	}
	cut := *s
	cut.Run, cut.Script = s.Run[:d.stop-1], false
	spec.Process.Args = []string{pipeline.Shell, "-e", "-c", stepScript(&cut, marker)}
}

// shellFor says which shell to open after the main process, nil for none.
func (d *debugTarget) shellFor(s *pipeline.Step, res isolation.Result, current int, stepErr error) *DebugShell {
	sh := &DebugShell{Step: s.Name, ExitCode: res.ExitCode}
	switch {
	case stepErr != nil:
		sh.Status = failureStatus(s, res, current)
	case d.stop > 0:
		sh.Script, sh.Status = ScriptPath, "before its script ("+ScriptPath+")"
		if d.stop > 1 || d.o.At > 0 || d.o.Break != "" {
			sh.Status = fmt.Sprintf("before command %d %s (the rest is in %s)", d.stop, quoteCommand(s.Run[d.stop-1]), ScriptPath)
		}
	case d.o.Always:
		sh.Status = "succeeded"
	default:
		return nil
	}
	return sh
}

// failureStatus is the prompt's account of a failure.
func failureStatus(s *pipeline.Step, res isolation.Result, current int) string {
	what := "its script"
	if !s.Script && current > 0 {
		what = quoteCommand(s.Run[current-1])
	}
	switch {
	case res.TimedOut:
		return fmt.Sprintf("%s timed out after %s", what, s.Timeout)
	case res.OOMKilled:
		return what + " was killed: out of memory"
	}
	return fmt.Sprintf("%s exited %d", what, res.ExitCode)
}

func quoteCommand(c string) string {
	return "'" + commandHead(c) + "'"
}

// openShell writes the script file when the step stopped early, picks the
// shell and runs it on the terminal (or says what it would have done).
func (d *debugTarget) openShell(ctx context.Context, c Container, spec *isolation.Spec, s *pipeline.Step, sh *DebugShell) error {
	if sh.Script != "" {
		if err := writeScript(ctx, c, spec.Process, userScript(s, d.stop)); err != nil {
			return err
		}
	}
	code, err := runShell(ctx, c, spec.Process, sh, d.o)
	if err == nil && sh.Script != "" && sh.ExitCode == 0 {
		d.code = code // the step stopped early: the shell's exit is the session's
	}
	return err
}

// runShell picks the shell, reports it, and runs it on the terminal.
func runShell(ctx context.Context, c Container, p isolation.Process, sh *DebugShell, o *DebugOptions) (int, error) {
	sh.Args, sh.Dir = shellArgs(ctx, c, p, o.Shell), firstNonEmpty(p.Dir, "/")
	sh.Prompt = "[pipe debug " + sh.Step + ": " + sh.Status + "] " + sh.Dir + " # "
	if o.OnShell != nil {
		o.OnShell(*sh)
	}
	if !o.Interactive {
		return sh.ExitCode, nil
	}
	env := append(append([]string(nil), p.Env...),
		"PIPE_DEBUG_STEP="+sh.Step, "PIPE_DEBUG_STATUS="+sh.Status, "PIPE_DEBUG_EXIT="+strconv.Itoa(sh.ExitCode),
		`PS1=[pipe debug $PIPE_DEBUG_STEP: $PIPE_DEBUG_STATUS] \w \$ `)
	res, err := c.Exec(ctx, isolation.Process{Args: sh.Args, Env: DedupEnv(env), Dir: sh.Dir, User: p.User,
		TTY: true, Stdin: o.Stdin, Stdout: o.Stdout})
	if err != nil {
		return 0, fmt.Errorf("step %s: shell %s: %w", sh.Step, sh.Args[0], err)
	}
	return res.ExitCode, nil
}

// shellArgs is the shell to open: the one asked for, else the image's bash
// (without its rc files, which would replace pipe's prompt), else sh.
func shellArgs(ctx context.Context, c Container, p isolation.Process, shell string) []string {
	if shell != "" {
		return []string{shell}
	}
	probe := isolation.Process{Args: []string{pipeline.Shell, "-c", "command -v bash"}, Env: p.Env, Dir: "/", User: p.User,
		Stdout: io.Discard, Stderr: io.Discard}
	if res, err := c.Exec(ctx, probe); err == nil && res.ExitCode == 0 {
		return []string{"bash", "--norc", "-i"}
	}
	return []string{pipeline.Shell, "-i"}
}

// writeScript writes script to ScriptPath in the container, as the step's
// user (the file is the user's to edit).
func writeScript(ctx context.Context, c Container, p isolation.Process, script string) error {
	var stderr strings.Builder
	w := isolation.Process{Args: []string{pipeline.Shell, "-c", "mkdir -p /tmp && cat > " + ScriptPath + " && chmod 755 " + ScriptPath},
		Env: p.Env, Dir: "/", User: p.User, Stdin: strings.NewReader(script), Stdout: io.Discard, Stderr: &stderr}
	res, err := c.Exec(ctx, w)
	if err == nil && res.ExitCode != 0 {
		err = errors.New(strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		return fmt.Errorf("write the step's script to %s in its container: %w", ScriptPath, err)
	}
	return nil
}

// userScript is the step's script from command `from` on (1-based), as a
// person reads and reruns it: sh -e semantics, no markers.
func userScript(s *pipeline.Step, from int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "#!/bin/sh\n# pipe debug: step %s", s.Name)
	if from > 1 {
		fmt.Fprintf(&b, ", from command %d", from)
	}
	b.WriteString(" (pipe runs it with sh -e; run it with: sh " + ScriptPath + ")\nset -e\n")
	if s.Script {
		b.WriteString(s.ScriptText())
	} else {
		b.WriteString(strings.Join(s.Run[max(from, 1)-1:], "\n"))
	}
	b.WriteString("\n")
	return b.String()
}
