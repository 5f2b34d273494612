package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/runner/gitlab"
)

// gitlabFlags are the flags of pipe gitlab's stages.
type gitlabFlags struct {
	keepFailed   bool
	defaultImage string
	network      string
	pull         string
}

func newGitlabCmd(o *output) *cobra.Command {
	var f gitlabFlags
	cmd := &cobra.Command{
		Use:   "gitlab",
		Short: "Be the job runtime of a GitLab Runner (its Custom executor's four stages)",
		Long: "pipe gitlab config|prepare|run|cleanup are the config_exec, prepare_exec, run_exec and\n" +
			"cleanup_exec of a GitLab Runner's Custom executor: each job runs in a fresh pipe container\n" +
			"of its image, its services by alias, no Docker daemon. See the README for config.toml.",
	}
	cmd.PersistentFlags().BoolVar(&f.keepFailed, "keep-failed", false, "keep a job whose script failed for `pipe debug --last` (also: variable PIPE_KEEP_FAILED=1)")
	cmd.PersistentFlags().StringVar(&f.defaultImage, "default-image", "", "image of jobs that name none (also: PIPE_DEFAULT_IMAGE)")
	cmd.PersistentFlags().StringVar(&f.pull, "pull", "", "pull policy of jobs whose image names none: always, missing (GitLab's if-not-present, the default) or never")
	cmd.PersistentFlags().StringVar(&f.network, "network", "", "host (default) or private: a loopback-only network of the job's own (also: PIPE_NETWORK)")
	stage := func(use, short string, args cobra.PositionalArgs, do func(context.Context, *gitlab.Driver, []string) error) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Args: args, RunE: func(c *cobra.Command, a []string) error {
			d, err := newGitlabDriver(o, f)
			if err != nil {
				return withCode(gitlab.OSEnv().SystemFailure(), err)
			}
			if err := do(c.Context(), d, a); err != nil {
				return withCode(d.ExitCode(err), err)
			}
			return nil
		}}
	}
	cmd.AddCommand(
		stage("config", "Print the driver's config JSON (config_exec)", cobra.NoArgs,
			func(_ context.Context, d *gitlab.Driver, _ []string) error { return d.Config() }),
		stage("prepare", "Create the job's containers and services (prepare_exec)", cobra.NoArgs,
			func(ctx context.Context, d *gitlab.Driver, _ []string) error { return d.Prepare(ctx) }),
		stage("run SCRIPT STAGE", "Run one stage's script in the job (run_exec)", cobra.ExactArgs(2), gitlabRun),
		stage("cleanup", "Remove the job, or keep it when it failed and --keep-failed (cleanup_exec)", cobra.NoArgs,
			func(ctx context.Context, d *gitlab.Driver, _ []string) error { return d.Cleanup(ctx) }),
	)
	return cmd
}

func newGitlabDriver(o *output, f gitlabFlags) (*gitlab.Driver, error) {
	pull, err := cache.ParsePullPolicy(f.pull)
	if err != nil {
		return nil, usageError("--pull: %v", err)
	}
	store, err := openStore()
	if err != nil {
		return nil, err
	}
	return &gitlab.Driver{Pull: pull, Store: store, Runtime: runtimeOptions(o, false), Env: gitlab.OSEnv(), Stdout: os.Stdout, Stderr: os.Stderr, Version: version,
		KeepFailed: f.keepFailed, DefaultImage: f.defaultImage, Network: f.network}, nil
}

// gitlabRun is run_exec: the runner's SIGTERM (cancel, timeout) goes to the
// script's process group; its SIGKILL ends this process, and with it the
// script (the job's keeper kills what its client left).
func gitlabRun(ctx context.Context, d *gitlab.Driver, args []string) error {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(ch)
	sigs := make(chan syscall.Signal, 4)
	go func() {
		for s := range ch {
			select {
			case sigs <- s.(syscall.Signal):
			default:
			}
		}
	}()
	return d.Run(ctx, args[0], args[1], sigs)
}
