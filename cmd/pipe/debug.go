package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pipe-run/pipe/executor"
	"github.com/pipe-run/pipe/executor/kept"
	"github.com/pipe-run/pipe/executor/report"
	"github.com/pipe-run/pipe/pipeline"
)

// debugFlags are the flags of pipe debug.
type debugFlags struct {
	run                  runFlags
	shell, brk, export   string
	at                   int
	before, always, last bool
}

func newDebugCmd(o *output) *cobra.Command {
	var f debugFlags
	cmd := &cobra.Command{
		Use:   "debug STEP",
		Short: "Run a step and open a shell in its container where it failed",
		Long: "Bring STEP's dependencies up to date (from the step cache, else by running them), run\n" +
			"STEP in its container exactly as pipe run would, and when it fails open an interactive\n" +
			"shell in that container: same files, env, working dir, services still up. The prompt\n" +
			"names the failed command. Leaving the shell tears everything down; pipe exits with\n" +
			"the step's exit code. Without a terminal, pipe says what it would have opened.\n\n" +
			"--last reopens the state `pipe run --keep-failed` kept of the last failed step, rerunning\n" +
			"nothing; --export FILE writes that state as an image tarball (docker load, pipe image import).",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return debugCommand(cmd.Context(), o, f, args)
		},
	}
	addFileFlag(cmd, &f.run.src)
	fl := cmd.Flags()
	fl.StringVar(&f.shell, "shell", "", "shell to open (default: the image's bash, else sh)")
	fl.BoolVar(&f.before, "before", false, "open the shell before the step's script runs (the script is in "+executor.ScriptPath+")")
	fl.IntVar(&f.at, "at", 0, "run commands 1..N-1 of the step's run list, then open the shell")
	fl.StringVar(&f.brk, "break", "", "like --at, before the first command matching this regular expression")
	fl.BoolVar(&f.always, "always", false, "open the shell also when the step succeeds")
	fl.BoolVar(&f.last, "last", false, "reopen the state kept by pipe run --keep-failed of the last failed step (of STEP if given)")
	fl.StringVar(&f.export, "export", "", "write the kept state of the last failed step as an image tarball to FILE")
	fl.StringArrayVarP(&f.run.env, "env", "e", nil, "KEY=VALUE over the pipeline's env (repeatable)")
	fl.StringVar(&f.run.secretFile, "secret-file", "", "file of KEY=VALUE lines giving the pipeline's secrets (over the environment)")
	fl.StringVar(&f.run.pull, "pull", "missing", "when to pull images: missing, always or never")
	fl.BoolVar(&f.run.noCache, "no-cache", false, "neither read nor write the step cache")
	fl.IntVarP(&f.run.jobs, "jobs", "j", 4, "dependencies running at once")
	return cmd
}

// debugCommand is pipe debug.
func debugCommand(ctx context.Context, o *output, f debugFlags, args []string) error {
	if err := checkDebugFlags(f, args); err != nil {
		return err
	}
	step := ""
	if len(args) == 1 {
		step = args[0]
	}
	opts, p, err := debugOptions(o, f, step)
	if err != nil {
		return err
	}
	if opts.Store, err = openStore(); err != nil {
		return err
	}
	ctx, stop := withInterrupt(ctx, o) // caught until the runtime has closed
	defer stop()
	if f.export == "" {
		rt, err := newRuntime(o, false)
		if err != nil {
			return err
		}
		defer rt.Close()
		opts.Runtime = executor.NewIsolationRuntime(rt)
	}
	code, err := executor.Debug(ctx, p, step, opts)
	return debugResult(o, f, code, err)
}

// checkDebugFlags rejects combinations that mean nothing.
func checkDebugFlags(f debugFlags, args []string) error {
	stops := 0
	for _, set := range []bool{f.before, f.at != 0, f.brk != ""} {
		if set {
			stops++
		}
	}
	switch {
	case stops > 1:
		return usageError("--before, --at and --break each say where to stop: give one")
	case (f.last || f.export != "") && (stops > 0 || f.always):
		return usageError("--last and --export reopen a kept failure, which runs nothing: --before, --at, --break and --always do not apply")
	case !f.last && f.export == "" && len(args) == 0:
		return usageError("name the step to debug: pipe debug STEP (or pipe debug --last)")
	}
	return nil
}

// debugOptions reads the pipeline (unless reopening a kept state) and wires
// the terminal.
func debugOptions(o *output, f debugFlags, step string) (executor.DebugOptions, *pipeline.Pipeline, error) {
	opts := executor.DebugOptions{Shell: f.shell, Before: f.before, At: f.at, Break: f.brk, Always: f.always,
		Last: f.last, Export: f.export, Stdin: os.Stdin, Stdout: o.stdout, Interactive: isTerminal(os.Stdin),
		OnShell: func(sh executor.DebugShell) { announceShell(o, sh, isTerminal(os.Stdin)) }}
	if f.last || f.export != "" {
		lookup, err := secretLookup(f.run.secretFile)
		opts.LookupSecret = lookup
		return opts, nil, err
	}
	var targets []string
	if step != "" {
		targets = []string{step}
	}
	runOpts, p, err := runOptions(o, f.run, targets)
	if err != nil {
		return opts, nil, err
	}
	opts.Options = runOpts
	if opts.Repo, err = repoDir(p.File); err != nil {
		return opts, nil, err
	}
	opts.Sink = report.NewTerminalSink(o.stdout, report.TerminalOptions{Color: o.color, NoDebugHint: true})
	return opts, p, nil
}

// secretLookup finds a secret in --secret-file, else in the environment.
func secretLookup(file string) (func(string) (string, bool), error) {
	fromFile := map[string]string{}
	if file != "" {
		var err error
		if fromFile, err = readSecretFile(file); err != nil {
			return nil, withCode(ExitInvalid, err)
		}
	}
	return func(name string) (string, bool) {
		if v, ok := fromFile[name]; ok {
			return v, true
		}
		return os.LookupEnv(name)
	}, nil
}

// announceShell says which shell opens, or would have.
func announceShell(o *output, sh executor.DebugShell, tty bool) {
	shell := strings.Join(sh.Args, " ")
	if !tty {
		fmt.Fprintf(o.stderr, "%s stdin is not a terminal: would have opened %q in step %s's container at %s (%s); tearing it down\n",
			o.yellow("pipe debug:"), shell, sh.Step, sh.Dir, sh.Status)
		return
	}
	fmt.Fprintf(o.stderr, "%s step %s: %s\n%s opening %q in its container at %s; exit the shell to tear everything down\n",
		o.bold("pipe debug:"), sh.Step, sh.Status, o.bold("pipe debug:"), shell, sh.Dir)
	if sh.Script != "" {
		fmt.Fprintf(o.stderr, "%s the step's commands are in %s: run them with sh %s\n", o.bold("pipe debug:"), sh.Script, sh.Script)
	}
}

// debugResult maps Debug's outcome to pipe's exit codes: the step's own exit
// code when it ran.
func debugResult(o *output, f debugFlags, code int, err error) error {
	var missing *executor.MissingSecretError
	var unknown *pipeline.UnknownStepError
	var notRun *executor.NotRunError
	switch {
	case errors.As(err, &missing), errors.As(err, &unknown), errors.Is(err, kept.ErrNone):
		return withCode(ExitInvalid, err)
	case errors.As(err, &notRun):
		return withCode(ExitStepFailed, err)
	case err != nil:
		return err
	case f.export != "":
		fmt.Fprintf(o.stderr, "%s wrote %s: load it with pipe image import %s NAME (or docker load -i %s)\n", o.green("exported"), f.export, f.export, f.export)
		return nil
	case code != 0:
		return withCode(code, silentError{fmt.Errorf("exit code %d", code)})
	}
	return nil
}
