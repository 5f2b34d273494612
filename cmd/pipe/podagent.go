package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pipe-run/pipe/executor/podagent"
)

// agentRootEnv moves every path of the pod agent under one dir, and
// agentTermEnv its termination message (a pod's containers have one each):
// for tests of the agent outside a pod only.
const (
	agentRootEnv = "PIPE_AGENT_ROOT"
	agentTermEnv = "PIPE_AGENT_TERMINATION_LOG"
)

// newPodAgentCmd is the hidden `pipe pod-agent init|run|push`: the program
// kube's pods run (see package podagent for the contract).
func newPodAgentCmd(o *output) *cobra.Command {
	c := &cobra.Command{
		Use:    "pod-agent",
		Short:  "Run pipe's agent inside a step's pod (used by the kubernetes backend)",
		Hidden: true,
		Args:   cobra.NoArgs,
	}
	c.AddCommand(
		&cobra.Command{
			Use: "init", Short: "Fetch and apply the workspace layers onto /workspace", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				sp, err := agentSpec()
				if err != nil {
					return err
				}
				ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
				defer stop()
				return newAgent(o).Init(ctx, sp)
			},
		},
		&cobra.Command{
			Use: "run -- ARGV...", Short: "Run the step's command, then report its exit code and diff",
			// Everything after run is the step's argv, flags included.
			DisableFlagParsing: true,
			RunE: func(cmd *cobra.Command, args []string) error {
				if len(args) > 0 && args[0] == "--" {
					args = args[1:]
				}
				if len(args) == 0 {
					return usageError("pod-agent run: no command to run (usage: pipe pod-agent run -- ARGV...)")
				}
				return agentExit(newAgent(o).Run(context.Background(), args))
			},
		},
		&cobra.Command{
			Use: "push", Short: "Push the step's workspace diff, then wait to be stopped", Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				sp, err := agentSpec()
				if err != nil {
					return err
				}
				ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
				defer stop()
				return newAgent(o).Push(ctx, sp)
			},
		},
	)
	return c
}

// agentExit makes Run's result the process's exit: the step's code, which
// is no error of pipe's (nothing printed), or pipe's own failure.
func agentExit(code int, err error) error {
	switch {
	case err != nil && code == 0:
		return withCode(ExitInfra, err)
	case err != nil:
		return withCode(code, err)
	case code != 0:
		return withCode(code, silentError{errors.New("the step failed")})
	}
	return nil
}

// newAgent is the agent with the pod's paths, or a test's.
func newAgent(o *output) *podagent.Agent {
	p := podagent.DefaultPaths()
	if root := os.Getenv(agentRootEnv); root != "" {
		p = podagent.PathsUnder(root)
	}
	if f := os.Getenv(agentTermEnv); f != "" {
		p.TerminationLog = f
	}
	return &podagent.Agent{Paths: p, Log: o.stderr}
}

// agentSpec reads PIPE_AGENT_SPEC.
func agentSpec() (podagent.Spec, error) {
	return podagent.ParseSpec(os.Getenv(podagent.SpecEnv))
}
