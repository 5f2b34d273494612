package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/spf13/cobra"
)

// newLogsCmd is `pipe logs [STEP] [--run ID]`.
func newLogsCmd(o *output) *cobra.Command {
	var runID string
	cmd := &cobra.Command{
		Use:   "logs [STEP]",
		Short: "Print the kept logs of the last run, or of the run given by --run",
		Long: "pipe logs prints the full logs (secrets masked) that pipe keeps of its last runs.\n" +
			"With STEP it prints that step's log as is; without, every step's log under a header.\n" +
			"pipe keeps the logs of the last 20 runs in the store ($PIPE_HOME/runs).",
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			store, err := openStore()
			if err != nil {
				return err
			}
			step := ""
			if len(args) == 1 {
				step = args[0]
			}
			return printLogs(o, store.RunsDir(), runID, step)
		},
	}
	cmd.Flags().StringVar(&runID, "run", "", "the run whose logs to print (default: the last run)")
	return cmd
}

// printLogs prints the logs of one run (the last when runID is "") from
// runsDir: of step, or of every step.
func printLogs(o *output, runsDir, runID, step string) error {
	run, err := findRun(runsDir, runID)
	if err != nil {
		return err
	}
	if step != "" {
		s, ok := runStep(run, step)
		if !ok {
			return withCode(ExitInvalid, fmt.Errorf("run %s has no step %q; its steps: %s", run.RunID, step, stepNames(run)))
		}
		return printStepLog(o, runsDir, run, s, false)
	}
	fmt.Fprintf(o.stdout, "%s\n", o.bold(runHeader(run)))
	for _, s := range run.Steps {
		if err := printStepLog(o, runsDir, run, s, true); err != nil {
			return err
		}
	}
	return nil
}

// findRun returns the run with runID, or the newest run.
func findRun(runsDir, runID string) (runlog.Summary, error) {
	if runID != "" {
		run, err := runlog.Read(runsDir, runID)
		if errors.Is(err, fs.ErrNotExist) {
			return run, withCode(ExitInvalid, fmt.Errorf("no run %s kept in %s (pipe keeps the last 20 runs)", runID, runsDir))
		}
		return run, err
	}
	runs, err := runlog.List(runsDir)
	if err != nil {
		return runlog.Summary{}, err
	}
	if len(runs) == 0 {
		return runlog.Summary{}, withCode(ExitInvalid, fmt.Errorf("no run kept in %s yet: `pipe run` keeps the logs of each run there", runsDir))
	}
	return runs[0], nil
}

// runStep finds a step of run by name.
func runStep(run runlog.Summary, name string) (runlog.StepSummary, bool) {
	for _, s := range run.Steps {
		if s.Name == name {
			return s, true
		}
	}
	return runlog.StepSummary{}, false
}

// stepNames lists the steps of a run for an error message.
func stepNames(run runlog.Summary) string {
	names := make([]string, len(run.Steps))
	for i, s := range run.Steps {
		names[i] = s.Name
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// runHeader describes a run in one line.
func runHeader(run runlog.Summary) string {
	h := "run " + run.RunID
	if run.Pipeline != "" {
		h += " of " + run.Pipeline
	}
	h += ": " + run.Status
	if !run.Started.IsZero() {
		h += ", started " + run.Started.Local().Format("2006-01-02 15:04:05")
	}
	return h
}

// printStepLog copies one step's log to stdout, under a header if asked.
func printStepLog(o *output, runsDir string, run runlog.Summary, s runlog.StepSummary, header bool) error {
	status := string(s.Status)
	if status == "" {
		status = "not finished"
	}
	if header {
		fmt.Fprintf(o.stdout, "%s\n", o.bold(fmt.Sprintf("==> %s (%s) <==", s.Name, status)))
	}
	if s.Log == "" {
		msg := fmt.Sprintf("(no log: step %s was %s in run %s)", s.Name, status, run.RunID)
		if s.Status == runlog.StatusOK || s.Status == runlog.StatusFailed {
			msg = fmt.Sprintf("(step %s printed nothing in run %s)", s.Name, run.RunID)
		}
		fmt.Fprintf(o.stdout, "%s\n", o.faint(msg))
		return nil
	}
	f, err := os.Open(filepath.Join(runsDir, run.RunID, filepath.Base(s.Log)))
	if err != nil {
		return fmt.Errorf("log of step %s in run %s: %w", s.Name, run.RunID, err)
	}
	defer f.Close()
	if _, err := io.Copy(o.stdout, f); err != nil {
		return fmt.Errorf("log of step %s in run %s: %w", s.Name, run.RunID, err)
	}
	return nil
}
