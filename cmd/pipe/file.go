package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pipe-run/pipe/executor/report"

	"github.com/pipe-run/pipe/pipeline"
	"github.com/spf13/cobra"
)

// defaultFile is the name of the pipeline file pipe looks for.
const defaultFile = ".pipe.yml"

// source is what a command reads the pipeline from: -f FILE and, for a
// GitHub Actions workflow, the images of its runs-on labels.
type source struct {
	file      string
	platforms []string // LABEL=IMAGE
}

// args are the flags that name this source again, for the pipe debug hint.
func (s source) args() string {
	var parts []string
	if s.file != "" {
		parts = append(parts, "-f", report.ShellQuote(s.file))
	}
	for _, p := range s.platforms {
		parts = append(parts, "--platform", report.ShellQuote(p))
	}
	return strings.Join(parts, " ")
}

// addFileFlag adds -f/--file and --platform to a command that reads the pipeline.
func addFileFlag(cmd *cobra.Command, src *source) {
	cmd.Flags().StringVarP(&src.file, "file", "f", "", "pipeline file: a .pipe.yml, a .gitlab-ci.yml or a GitHub Actions workflow (default: .pipe.yml in the current directory or the nearest parent that has one)")
	cmd.Flags().StringArrayVar(&src.platforms, "platform", nil, "LABEL=IMAGE: the image of a GitHub Actions runs-on label (repeatable)")
}

// findPipeline returns the pipeline file to read: file when set, else
// .pipe.yml in the current directory or the nearest parent that has one
// (as git finds its repository), as a path relative to the current
// directory so that error positions stay short and clickable.
func findPipeline(file string) (string, error) {
	if file != "" {
		return file, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find %s: %w", defaultFile, err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, defaultFile)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			if rel, err := filepath.Rel(wd, p); err == nil {
				return rel, nil
			}
			return p, nil
		} else if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
			return "", fmt.Errorf("find %s: %w", defaultFile, err)
		}
		if filepath.Dir(dir) == dir {
			if other := otherPipelines(wd); len(other) > 0 {
				return "", usageError("no %s in %s or any parent directory (name the CI file to run with -f: pipe run -f %s)", defaultFile, wd, strings.Join(other, ", or -f "))
			}
			return "", usageError("no %s in %s or any parent directory (create one, or name a file with -f FILE)", defaultFile, wd)
		}
	}
}

// loadPipeline finds and loads the pipeline, translating a GitLab CI file or
// a GitHub Actions workflow (targets are the steps named on the command
// line). Warnings of a translation and problems in the file are printed to
// stderr, one per line; problems are returned as a silent error with exit
// code 2; an unreadable file is a command-line error (2) as well.
func loadPipeline(o *output, src source, targets []string) (*pipeline.Pipeline, error) {
	path, err := findPipeline(src.file)
	if err != nil {
		return nil, err
	}
	p, err := loadFile(o, path, src, targets)
	var list pipeline.ErrorList
	switch {
	case err == nil:
		return p, nil
	case errors.As(err, &list):
		printProblems(o, path, list)
		return nil, withCode(ExitInvalid, silentError{err})
	default:
		return nil, withCode(ExitInvalid, err)
	}
}

// printProblems prints every problem of a pipeline file, then a summary.
func printProblems(o *output, path string, list pipeline.ErrorList) {
	for _, e := range list {
		fmt.Fprintf(o.stderr, "%s %s", o.bold(e.Pos.String()+":"), e.Msg)
		if e.Hint != "" {
			fmt.Fprintf(o.stderr, " %s", o.faint("("+e.Hint+")"))
		}
		fmt.Fprintln(o.stderr)
	}
	n := "1 problem"
	if len(list) != 1 {
		n = fmt.Sprintf("%d problems", len(list))
	}
	fmt.Fprintf(o.stderr, "%s %s is invalid: %s\n", o.red("error:"), path, n)
}
