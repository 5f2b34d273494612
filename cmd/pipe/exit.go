package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Exit codes, documented in README.md and used by every command.
const (
	ExitOK          = 0   // success
	ExitStepFailed  = 1   // a step failed
	ExitInvalid     = 2   // the pipeline or the command line is invalid
	ExitInfra       = 3   // pipe itself failed: image pull, mount, cgroup
	ExitInterrupted = 130 // interrupted by SIGINT or SIGTERM
)

// exitError carries the exit code a command chose for its error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withCode marks err with an exit code; nil stays nil.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// usageError is a bad command line: exit 2.
func usageError(format string, a ...any) error {
	return withCode(ExitInvalid, fmt.Errorf(format, a...))
}

// exitCode picks the exit code for err: the one a command chose, 130 for an
// interrupt, else 3 (pipe itself failed).
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.Is(err, context.Canceled):
		return ExitInterrupted
	default:
		return ExitInfra
	}
}

// silentError is an error whose message has already been printed.
type silentError struct{ error }

// printError prints err for the user, unless it was already printed.
func printError(w io.Writer, o *output, err error) {
	var s silentError
	if errors.As(err, &s) {
		return
	}
	fmt.Fprintf(w, "%s %v\n", o.red("error:"), err)
}
