package main

import (
	"github.com/spf13/cobra"
)

func newValidateCmd(o *output) *cobra.Command {
	var src source
	cmd := &cobra.Command{
		Use:   "validate [-f FILE]",
		Short: "Check a pipeline file and print a summary of its DAG",
		Long: "validate reads the pipeline file, checks it completely, and prints a one-line summary\n" +
			"(steps after matrix expansion, edges, levels). An invalid file gets every problem printed\n" +
			"as file:line:col: what is wrong (what to do), and exit code 2.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := loadPipeline(o, src, nil)
			if err != nil {
				return err
			}
			o.printf("%s %s: %s\n", o.green("valid"), p.File, p.Graph.Summary())
			return nil
		},
	}
	addFileFlag(cmd, &src)
	return cmd
}
