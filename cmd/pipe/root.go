package main

import (
	"errors"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// run executes the pipe command line args and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	o := &output{stdout: stdout, stderr: stderr}
	root := newRootCmd(o)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err != nil {
		if isCobraUsageError(err) {
			err = withCode(ExitInvalid, err)
		}
		printError(stderr, o, err)
	}
	return exitCode(err)
}

func newRootCmd(o *output) *cobra.Command {
	root := &cobra.Command{
		Use:           "pipe",
		Short:         "Run CI/CD pipelines in fast hermetic containers",
		Long:          "pipe runs the steps of a .pipe.yml pipeline as a DAG, in parallel, each in a fresh\nhermetic container, with a content-addressed cache of layers and step results.",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return o.setup()
		},
	}
	root.PersistentFlags().StringVar(&o.colorMode, "color", "auto", "colour output: auto, always or never (NO_COLOR also turns it off)")
	root.AddCommand(
		newVersionCmd(o), newRunCmd(o),
		newImageCmd(o), newCacheCmd(o),
		newValidateCmd(o), newGraphCmd(o), newLogsCmd(o),
		newDebugCmd(o), newConvertCmd(o),
		newGitlabCmd(o), newGHAHookCmd(o),
		newPodAgentCmd(o),
	)
	return root
}

// isCobraUsageError reports errors cobra returns for a bad command line.
func isCobraUsageError(err error) bool {
	var ee *exitError
	if errors.As(err, &ee) {
		return false
	}
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "flag needs an argument", "invalid argument", "accepts ", "requires at least", "requires at most", "received "} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
