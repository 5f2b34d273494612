package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/pipe-run/pipe/runner/github"
)

func newGHAHookCmd(o *output) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gha-hook",
		Short: "Be the container hooks of a GitHub Actions runner (ACTIONS_RUNNER_CONTAINER_HOOKS)",
		Long: "pipe gha-hook reads one hook command of the GitHub Actions runner on stdin (prepare_job,\n" +
			"run_script_step, run_container_step, cleanup_job) and runs it in pipe containers: no Docker\n" +
			"daemon. The runner calls it through the hook.sh that `pipe gha-hook install DIR` writes.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return ghaHook(c, o) },
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "install DIR",
		Short: "Write DIR/hook.sh, the script ACTIONS_RUNNER_CONTAINER_HOOKS points at",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			path, err := installHook(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(o.stdout, "wrote %s\nadd to the runner's .env: ACTIONS_RUNNER_CONTAINER_HOOKS=%s\n", path, path)
			return nil
		},
	})
	return cmd
}

// ghaHook runs one hook command; a step's exit code is the hook's.
func ghaHook(c *cobra.Command, o *output) error {
	if isTerminal(os.Stdin) {
		return usageError("pipe gha-hook reads the runner's JSON on stdin: the GitHub Actions runner runs it through ACTIONS_RUNNER_CONTAINER_HOOKS (pipe gha-hook install DIR)")
	}
	in, err := github.ReadInput(os.Stdin)
	if err != nil {
		return withCode(ExitInvalid, err)
	}
	store, err := openStore()
	if err != nil {
		return err
	}
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
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
	h := &github.Hook{Store: store, RunnerName: os.Getenv("RUNNER_NAME"), Runtime: runtimeOptions(o, false), Stdout: os.Stdout, Stderr: os.Stderr, Signals: sigs}
	err = h.Run(c.Context(), in)
	var se *github.StepError
	if errors.As(err, &se) {
		return withCode(se.Code, silentError{err})
	}
	return err
}

// installHook writes the hook script, execing this pipe binary.
func installHook(dir string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	if self, err = filepath.EvalSymlinks(self); err != nil {
		return "", err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(abs, "hook.sh")
	body := "#!/bin/sh\n# GitHub Actions runner container hooks by pipe: set\n# ACTIONS_RUNNER_CONTAINER_HOOKS=" + path + " in the runner's .env\nexec " + shellQuote(self) + " gha-hook \"$@\"\n"
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o755); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", err
	}
	return path, nil
}

func shellQuote(s string) string {
	out := "'"
	for _, c := range s {
		if c == '\'' {
			out += `'\''`
		} else {
			out += string(c)
		}
	}
	return out + "'"
}
