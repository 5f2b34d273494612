package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/pipe-run/pipe/isolation"
	"github.com/rogpeppe/go-internal/testscript"
)

// update rewrites golden files: for the scripts, the files that cmp compares
// with (go test ./cmd/pipe -update). Other test files of this package use it
// too rather than defining their own flag.
var update = flag.Bool("update", false, "rewrite golden files and the expected output in testdata/script")

// TestMain makes the test binary serve as the pipe command inside scripts
// and as a container init when pipe re-executes itself.
func TestMain(m *testing.M) {
	isolation.MaybeInit()
	testscript.Main(m, map[string]func(){
		"pipe": func() {
			if code, ok := maybeEnterUserNS(os.Args[1:], os.Stderr); ok {
				os.Exit(code)
			}
			os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
		},
	})
}

// TestScripts runs every testdata/script/*.txtar against the real binary.
// Scripts may use:
//   - [root]: true when PIPE_TEST_ROOT=1 (scripts that start containers say
//     [!root] skip); with PIPE_TEST_ROOT=1 they must then pass, not skip;
//   - exitcode N cmd args...: run cmd and require exit code N, keeping its
//     stdout and stderr for the stdout/stderr commands;
//   - $PIPE_HOME: the outer PIPE_HOME if set, else a fresh dir in $WORK.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *update,
		Setup:         setupScript,
		Condition:     scriptCondition,
		Cmds:          map[string]func(ts *testscript.TestScript, neg bool, args []string){"exitcode": cmdExitCode},
	})
}

func setupScript(env *testscript.Env) error {
	env.Setenv("PIPE_TEST_ROOT", os.Getenv("PIPE_TEST_ROOT"))
	home := os.Getenv("PIPE_HOME")
	if home == "" {
		home = filepath.Join(env.WorkDir, ".pipe-home")
	}
	env.Setenv("PIPE_HOME", home)
	return nil
}

func scriptCondition(cond string) (bool, error) {
	switch cond {
	case "root":
		return os.Getenv("PIPE_TEST_ROOT") == "1", nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

// cmdExitCode is the exitcode script command.
func cmdExitCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: %q is not a number", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}
