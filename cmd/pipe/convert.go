package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/pipe-run/pipe/pipeline"
)

func newConvertCmd(o *output) *cobra.Command {
	var src source
	cmd := &cobra.Command{
		Use:   "convert FILE",
		Short: "Print the .pipe.yml equivalent of a GitLab CI file or a GitHub Actions workflow",
		Long: "convert translates FILE (a .gitlab-ci.yml or a GitHub Actions workflow) as pipe run -f FILE\n" +
			"would, and prints the equivalent .pipe.yml on stdout: pipe convert .github/workflows/ci.yml > .pipe.yml.\n" +
			"What pipe does differently from the CI system is printed to stderr as warnings, at their\n" +
			"file:line:col. The translation uses the local git state (branch, tag, commit) like pipe run.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			src.file = args[0]
			tr, err := translateFile(src.file, src, nil)
			var list pipeline.ErrorList
			switch {
			case errors.As(err, &list):
				printProblems(o, src.file, list)
				return withCode(ExitInvalid, silentError{err})
			case err != nil:
				return withCode(ExitInvalid, err)
			}
			printWarnings(o, tr.Warnings)
			_, err = o.stdout.Write(tr.YAML)
			return err
		},
	}
	addFileFlag(cmd, &src)
	cmd.Flags().MarkHidden("file")
	return cmd
}
