package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor"
	"github.com/pipe-run/pipe/executor/report"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/pipeline"
)

// runFlags are the flags of pipe run.
type runFlags struct {
	src                               source
	secretFile, pull, junit, since    string
	jobs                              int
	env                               []string
	noCache, keepGoing, json, svcLogs bool
	keepFailed, strictLimits          bool
	share                             shareFlags
	backends                          backendFlags
}

func newRunCmd(o *output) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run [STEP...]",
		Short: "Run the pipeline, or the named steps and everything they need",
		Long: "Run every step of the pipeline (or the named steps and the steps they need), each in a\n" +
			"fresh container, in parallel where the DAG allows. Exit codes: 0 ok, 1 a step failed,\n" +
			"2 invalid pipeline or command line, 3 pipe itself failed, 130 interrupted.",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPipeline(cmd.Context(), o, f, args)
		},
	}
	addFileFlag(cmd, &f.src)
	fl := cmd.Flags()
	fl.IntVarP(&f.jobs, "jobs", "j", runtime.NumCPU(), "steps running at once")
	fl.StringArrayVarP(&f.env, "env", "e", nil, "KEY=VALUE over the pipeline's env (repeatable)")
	fl.StringVar(&f.secretFile, "secret-file", "", "file of KEY=VALUE lines giving the pipeline's secrets (over the environment)")
	fl.StringVar(&f.pull, "pull", "missing", "when to pull images: missing, always or never")
	fl.BoolVar(&f.noCache, "no-cache", false, "neither read nor write the step cache")
	fl.BoolVar(&f.keepGoing, "keep-going", false, "after a failure, run every step that does not depend on it")
	fl.BoolVar(&f.json, "json", false, "print the events as JSON lines on stdout (people's output goes to stderr)")
	fl.StringVar(&f.junit, "junit", "", "write a JUnit XML report to FILE")
	fl.BoolVar(&f.svcLogs, "service-logs", false, "print the services' output, prefixed svc/<name>")
	fl.BoolVar(&f.keepFailed, "keep-failed", false, "keep a failed step's state for pipe debug --last and --export")
	fl.BoolVar(&f.strictLimits, "strict-limits", false, "refuse a step whose resources: limits cannot be applied (rootless without a delegated cgroup) instead of running it without them")
	fl.StringVar(&f.since, "since", "", "git revision the changed paths of `when: paths` are computed against")
	addShareFlags(cmd, &f.share)
	addBackendFlags(cmd, &f.backends)
	return cmd
}

// runPipeline is pipe run.
func runPipeline(ctx context.Context, o *output, f runFlags, targets []string) error {
	opts, p, err := runOptions(o, f, targets)
	if err != nil {
		return err
	}
	kind, err := f.backends.kind()
	if err != nil {
		return err
	}
	// Signals stay caught until the end, the runtime's Close included: a
	// second Ctrl-C while it cleans up must not kill pipe half way.
	ctx, stop := withInterrupt(ctx, o)
	defer stop()
	available := func() error { return nil }
	if kind == backendLocal {
		var rt *executor.LazyRuntime
		rt, available = useLocal(o, f, &opts)
		defer rt.Close()
	}
	if opts.Store, err = openStore(); err != nil {
		return err
	}
	if opts.Remote, err = f.share.open(opts.Store, f.noCache); err != nil {
		return err
	}
	opts.RemotePushSecrets, opts.RemoteDeadline = f.share.pushSecrets, f.share.deadline
	if kind == backendKube {
		closeKube, err := useKube(o, f, &opts)
		if err != nil {
			return err
		}
		defer closeKube() // before stop: signals stay caught while it cleans up
	}
	repo, err := repoDir(p.File)
	if err != nil {
		return err
	}
	opts.Repo = repo
	if opts.Trigger, err = executor.DetectTrigger(ctx, repo, f.since, os.Getenv); err != nil {
		return withCode(ExitInvalid, err)
	}
	if err := available(); err != nil {
		return err
	}
	sinks, closeSinks, err := runSinks(o, f)
	if err != nil {
		return err
	}
	opts.Sink = sinks
	sum, err := executor.Run(ctx, p, opts)
	if cerr := closeSinks(); err == nil && cerr != nil {
		return cerr
	}
	return runResult(sum, err)
}

// openRuntime opens pipe's container runtime, for executor.NewLazyRuntime.
func openRuntime(o *output, strictLimits bool) func() (executor.Runtime, func() error, error) {
	return func() (executor.Runtime, func() error, error) {
		rt, err := newRuntime(o, strictLimits)
		if err != nil {
			return nil, nil, err
		}
		return executor.NewIsolationRuntime(rt), rt.Close, nil
	}
}

// runOptions reads the pipeline and the flags that do not need root.
func runOptions(o *output, f runFlags, targets []string) (executor.Options, *pipeline.Pipeline, error) {
	var opts executor.Options
	p, err := loadPipeline(o, f.src, targets)
	if err != nil {
		return opts, nil, err
	}
	if f.jobs < 1 {
		return opts, nil, usageError("--jobs: %d is not a number of steps (use 1 or more)", f.jobs)
	}
	if opts.Pull, err = cache.ParsePullPolicy(f.pull); err != nil {
		return opts, nil, withCode(ExitInvalid, fmt.Errorf("--pull: %w", err))
	}
	for _, kv := range f.env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return opts, nil, usageError("--env %q: write KEY=VALUE", kv)
		}
	}
	if opts.Secrets, err = secretValues(p.Secrets, f.secretFile, os.LookupEnv); err != nil {
		return opts, nil, err
	}
	opts.Targets, opts.Jobs, opts.Env = targets, f.jobs, f.env
	opts.NoCache, opts.KeepGoing, opts.ServiceLogs = f.noCache, f.keepGoing, f.svcLogs
	opts.KeepFailed = f.keepFailed
	if isTerminal(o.stderr) && !f.json {
		opts.PullProgress = o.stderr
	}
	return opts, p, nil
}

// secretValues reads the declared secrets from the environment, then from
// the secret file (which wins). Undeclared keys in the file are ignored; a
// secret with no value is left out (executor.Run reports it, naming it).
func secretValues(declared []string, file string, lookup func(string) (string, bool)) (map[string]string, error) {
	vals := map[string]string{}
	for _, name := range declared {
		if v, ok := lookup(name); ok {
			vals[name] = v
		}
	}
	if file == "" {
		return vals, nil
	}
	fromFile, err := readSecretFile(file)
	if err != nil {
		return nil, withCode(ExitInvalid, err)
	}
	for _, name := range declared {
		if v, ok := fromFile[name]; ok {
			vals[name] = v
		}
	}
	return vals, nil
}

// readSecretFile reads KEY=VALUE lines; blank lines and # comments are
// skipped, and a value in matching single or double quotes loses them.
// Errors never quote a value.
func readSecretFile(path string) (map[string]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--secret-file: %w", err)
	}
	defer fh.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("%s:%d: not a KEY=VALUE line", path, n)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[strings.TrimSpace(k)] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--secret-file %s: %w", path, err)
	}
	return out, nil
}

// repoDir is the checkout a pipeline file belongs to: its directory, or the
// one holding .github/workflows for a GitHub Actions workflow.
func repoDir(file string) (string, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return "", fmt.Errorf("pipeline %s: %w", file, err)
	}
	return checkoutDir(filepath.Dir(abs)), nil
}

// runSinks builds where the events go: the terminal (stdout, or stderr with
// --json), JSON lines on stdout, JUnit. close flushes the JUnit report.
func runSinks(o *output, f runFlags) (runlog.Sink, func() error, error) {
	human := o.stdout
	if f.json {
		human = o.stderr
	}
	ci := report.DetectCI(os.Getenv)
	sinks := []runlog.Sink{report.NewTerminalSink(human, report.TerminalOptions{
		Color: o.color, Live: isTerminal(human) && ci == "", CI: ci, DebugArgs: f.src.args()})}
	if f.json {
		sinks = append(sinks, runlog.NewJSONSink(o.stdout))
	}
	closer := func() error { return nil }
	if f.junit != "" {
		j := report.NewJUnitSink(f.junit)
		sinks = append(sinks, j)
		closer = func() error {
			if err := j.Close(); err != nil {
				return fmt.Errorf("--junit %s: %w", f.junit, err)
			}
			return nil
		}
	}
	return runlog.NewTeeSink(sinks...), closer, nil
}

// runResult maps the run's outcome to pipe's exit codes. The terminal sink
// has printed the summary and every failure already.
func runResult(sum *executor.Summary, err error) error {
	var missing *executor.MissingSecretError
	var unknown *pipeline.UnknownStepError
	var unsupported *executor.PodUnsupportedError
	switch {
	case errors.As(err, &missing), errors.As(err, &unknown), errors.As(err, &unsupported):
		return withCode(ExitInvalid, err)
	case errors.Is(err, context.Canceled):
		return withCode(ExitInterrupted, silentError{err})
	case err != nil:
		return err
	case sum.Status == runlog.StatusCanceled:
		return withCode(ExitInterrupted, silentError{context.Canceled})
	case len(sum.Failed) > 0 && len(sum.Infra) == len(sum.Failed):
		return withCode(ExitInfra, silentError{fmt.Errorf("pipe could not run %v", sum.Infra)})
	case len(sum.Failed) > 0:
		return withCode(ExitStepFailed, silentError{fmt.Errorf("%d step(s) failed", len(sum.Failed))})
	}
	return nil
}
