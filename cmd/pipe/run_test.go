package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/pipe-run/pipe/executor"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/internal/testimage"
	"github.com/pipe-run/pipe/pipeline"
)

func TestReadSecretFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secrets")
	os.WriteFile(p, []byte("# comment\n\nA=1\nexport B = two\nC=\"quoted = x\"\nD='s'\nE=\n"), 0o600)
	got, err := readSecretFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"A": "1", "B": " two", "C": "quoted = x", "D": "s", "E": ""}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	os.WriteFile(p, []byte("A=1\nnot a line with the value hunter2\n"), 0o600)
	if _, err := readSecretFile(p); err == nil || !strings.Contains(err.Error(), ":2:") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("err %v: want the line number and never the content", err)
	}
}

func TestSecretValuesFileWins(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secrets")
	os.WriteFile(p, []byte("A=file\nUNDECLARED=x\n"), 0o600)
	env := map[string]string{"A": "env", "B": "env"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	got, err := secretValues([]string{"A", "B", "C"}, p, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "map[A:file B:env]" {
		t.Errorf("got %v", got)
	}
}

func TestRunResultExitCodes(t *testing.T) {
	for _, tc := range []struct {
		sum  *executor.Summary
		err  error
		want int
	}{
		{&executor.Summary{Status: runlog.StatusOK}, nil, ExitOK},
		{&executor.Summary{Status: runlog.StatusFailed, Failed: []string{"a"}}, nil, ExitStepFailed},
		{&executor.Summary{Status: runlog.StatusFailed, Failed: []string{"a"}, Infra: []string{"a"}}, nil, ExitInfra},
		{&executor.Summary{Status: runlog.StatusFailed, Failed: []string{"a", "b"}, Infra: []string{"a"}}, nil, ExitStepFailed},
		{&executor.Summary{Status: runlog.StatusCanceled}, context.Canceled, ExitInterrupted},
		{nil, &executor.MissingSecretError{Names: []string{"X"}}, ExitInvalid},
		{nil, &pipeline.UnknownStepError{Name: "x"}, ExitInvalid},
		{nil, errors.New("pull failed"), ExitInfra},
	} {
		if got := exitCode(runResult(tc.sum, tc.err)); got != tc.want {
			t.Errorf("%+v %v: exit %d, want %d", tc.sum, tc.err, got, tc.want)
		}
	}
}

func needsRoot(t *testing.T) {
	t.Helper()
	if os.Getenv("PIPE_TEST_ROOT") != "1" {
		t.Skip("needs root: set PIPE_TEST_ROOT=1")
	}
}

// runEnv is a PIPE_HOME holding the busybox image and a repo.
type runEnv struct {
	home, repo string
}

const runTestImage = "pipe.test/busybox:run"

func newRunEnv(t *testing.T, pipe string) *runEnv {
	t.Helper()
	e := &runEnv{home: t.TempDir(), repo: t.TempDir()}
	img, err := testimage.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	if out, code := e.pipe(t, "image", "import", dir, runTestImage); code != 0 {
		t.Fatalf("import: %s", out)
	}
	os.WriteFile(filepath.Join(e.repo, ".pipe.yml"), []byte("version: 1\nimage: "+runTestImage+"\n"+pipe), 0o644)
	return e
}

// pipe runs the pipe binary (this test binary, through testscript) in the repo.
func (e *runEnv) pipe(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := e.command(args...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

func (e *runEnv) command(args ...string) *exec.Cmd {
	cmd := exec.Command("pipe", args...)
	cmd.Dir = e.repo
	cmd.Env = append(os.Environ(), "PIPE_HOME="+e.home, "NO_COLOR=1")
	return cmd
}

func TestRunCommandExitCodesAndJSON(t *testing.T) {
	needsRoot(t)
	e := newRunEnv(t, `secrets: [TOKEN]
steps:
  ok: {run: echo fine}
  bad: {run: [echo failing, exit 4]}
  secret: {secrets: [TOKEN], run: echo "t=$TOKEN"}
`)
	if out, code := e.pipe(t, "run", "ok", "--json"); code != 0 {
		t.Errorf("run ok: exit %d\n%s", code, out)
	}
	cmd := e.command("run", "ok", "--json")
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var ev runlog.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Errorf("not an event: %q: %v", line, err)
		}
	}
	if out, code := e.pipe(t, "run", "bad"); code != ExitStepFailed {
		t.Errorf("run bad: exit %d, want 1\n%s", code, out)
	}
	if out, code := e.pipe(t, "run", "nope"); code != ExitInvalid {
		t.Errorf("run nope: exit %d, want 2\n%s", code, out)
	}
	if out, code := e.pipe(t, "run", "secret"); code != ExitInvalid || !strings.Contains(out, "TOKEN") {
		t.Errorf("run secret without it: exit %d, want 2 naming TOKEN\n%s", code, out)
	}
	sf := filepath.Join(t.TempDir(), "s")
	os.WriteFile(sf, []byte("TOKEN=hunter22\n"), 0o600)
	junit := filepath.Join(t.TempDir(), "junit.xml")
	out, code := e.pipe(t, "run", "secret", "--secret-file", sf, "--junit", junit)
	if code != 0 || strings.Contains(out, "hunter22") || !strings.Contains(out, "t=***") {
		t.Errorf("run secret: exit %d\n%s", code, out)
	}
	if b, err := os.ReadFile(junit); err != nil || !strings.Contains(string(b), "secret") || strings.Contains(string(b), "hunter22") {
		t.Errorf("junit: %v\n%s", err, b)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Ctrl-C on a running pipeline: exit 130, and no process, mount or cgroup left.
func TestRunInterruptCleansUp(t *testing.T) {
	needsRoot(t)
	e := newRunEnv(t, "steps:\n  long: {run: sleep 4242}\n  also: {run: sleep 4242}\n")
	cmd := e.command("run")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(out.String(), "started") < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGINT)
	time.Sleep(20 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT) // a second Ctrl-C while cleaning up
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("pipe did not exit after SIGINT\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted {
		t.Errorf("exit %d, want 130\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "cleaning up") {
		t.Errorf("no cleaning up note\n%s", out.String())
	}
	assertNothingLeft(t, e.home)
}

// assertNothingLeft checks for processes, mounts and cgroups of the run.
func assertNothingLeft(t *testing.T, home string) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, _ := os.ReadFile(p); strings.Contains(string(b), "sleep\x004242") {
			t.Errorf("process left: %s", p)
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(b), home) {
		t.Errorf("mounts of %s left:\n%s", home, grepLines(string(b), home))
	}
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/pipe/pipe-*-long-*")
	more, _ := filepath.Glob("/sys/fs/cgroup/pipe/pipe-*-long-*")
	if left := append(dirs, more...); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
