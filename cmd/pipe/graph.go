package main

import (
	"errors"
	"slices"
	"strings"

	"github.com/pipe-run/pipe/pipeline"
	"github.com/spf13/cobra"
)

func newGraphCmd(o *output) *cobra.Command {
	var src source
	var format string
	cmd := &cobra.Command{
		Use:   "graph [-f FILE] [--format text|dot|mermaid|json] [STEP...]",
		Short: "Print the DAG of a pipeline",
		Long: "graph prints the pipeline's steps and what each needs. With STEP arguments it prints\n" +
			"only those steps and their ancestors: what pipe run STEP... would run. A matrix step's\n" +
			"base name (test) stands for all its expansions (test[go=1.22], ...).\n\n" +
			"Formats: text (a tree by level: steps of one level can run together), dot (Graphviz:\n" +
			"pipe graph --format dot | dot -Tsvg > graph.svg), mermaid (a flowchart for Markdown),\n" +
			"json (stable, schema pipe.graph/v1, for tools).",
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains(pipeline.Formats(), format) {
				return usageError("--format: %q is not one of %s", format, strings.Join(pipeline.Formats(), ", "))
			}
			p, err := loadPipeline(o, src, args)
			if err != nil {
				return err
			}
			g, err := p.Graph.Select(args...)
			var unknown *pipeline.UnknownStepError
			if errors.As(err, &unknown) {
				return withCode(ExitInvalid, err)
			} else if err != nil {
				return err
			}
			return g.Write(o.stdout, format)
		},
	}
	addFileFlag(cmd, &src)
	cmd.Flags().StringVar(&format, "format", pipeline.FormatText, "output format: "+strings.Join(pipeline.Formats(), ", "))
	return cmd
}
