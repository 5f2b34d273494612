package gitlab

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// runnerSim calls pipe gitlab as GitLab Runner's Custom executor does
// (executors/custom/command/command.go, common/build.go, shells/bash.go,
// re-implemented from runners.md, not copied): every stage a separate
// process in its own process group, its cwd a fresh temp dir that is also
// TMPDIR, the runner's environment plus BUILD_FAILURE_EXIT_CODE=1,
// SYSTEM_FAILURE_EXIT_CODE=2, BUILD_EXIT_CODE_FILE, JOB_RESPONSE_FILE
// (mode 0600) and every job variable as CUSTOM_ENV_<KEY>; run_exec's argv
// is "run <tmp>/scriptNNN/script <stage>" (run_args first), with the
// stage's body in the bash envelope of shells/bash.go; the exit code is
// mapped as waitForCommand maps it.
type runnerSim struct {
	t       *testing.T
	pipe    string
	home    string // PIPE_HOME
	tmp     string
	vars    map[string]string
	extra   []string // more runner env (KEY=VALUE)
	scripts int
}

// stageResult is how the runner sees a stage.
type stageResult struct {
	Kind   string // "ok", "build", "system", "unknown"
	Code   int    // the build failure's exit code (from BUILD_EXIT_CODE_FILE, else 1)
	Output string
}

func newRunnerSim(t *testing.T, pipe, home string, vars map[string]string, response any) *runnerSim {
	t.Helper()
	r := &runnerSim{t: t, pipe: pipe, home: home, tmp: t.TempDir(), vars: vars}
	b, err := json.Marshal(response)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.tmp, "response.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// env is the environment of every call.
func (r *runnerSim) env() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PIPE_HOME=" + r.home, "TMPDIR=" + r.tmp,
		"BUILD_FAILURE_EXIT_CODE=1", "SYSTEM_FAILURE_EXIT_CODE=2",
		"BUILD_EXIT_CODE_FILE=" + filepath.Join(r.tmp, "build_exit_code"),
		"JOB_RESPONSE_FILE=" + filepath.Join(r.tmp, "response.json")}
	env = append(env, r.extra...)
	for k, v := range r.vars {
		env = append(env, "CUSTOM_ENV_"+k+"="+v)
	}
	return env
}

func (r *runnerSim) command(args ...string) (*exec.Cmd, *bytes.Buffer) {
	var out bytes.Buffer
	cmd := exec.Command(r.pipe, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = r.tmp, r.env(), &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, &out
}

// call runs one executable to its end and returns its exit code.
func (r *runnerSim) call(args ...string) (int, string) {
	r.t.Helper()
	cmd, out := r.command(args...)
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		r.t.Fatalf("pipe %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// script writes a stage's script as the runner does and returns its path.
func (r *runnerSim) script(body string) string {
	r.t.Helper()
	r.scripts++
	dir := filepath.Join(r.tmp, fmt.Sprintf("script%03d", r.scripts))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		r.t.Fatal(err)
	}
	path := filepath.Join(dir, "script")
	if err := os.WriteFile(path, []byte(bashScript(body)), 0o700); err != nil {
		r.t.Fatal(err)
	}
	return path
}

// stage runs one stage; an empty body is skipped, as the runner skips it.
func (r *runnerSim) stage(name, body string) stageResult {
	r.t.Helper()
	if strings.TrimSpace(body) == "" {
		return stageResult{Kind: "ok"}
	}
	os.Remove(filepath.Join(r.tmp, "build_exit_code"))
	code, out := r.call("gitlab", "run", r.script(body), name)
	return r.mapCode(code, out)
}

// mapCode maps run_exec's exit code as waitForCommand does.
func (r *runnerSim) mapCode(code int, out string) stageResult {
	switch code {
	case 0:
		return stageResult{Kind: "ok", Output: out}
	case 1:
		res := stageResult{Kind: "build", Code: 1, Output: out}
		if b, err := os.ReadFile(filepath.Join(r.tmp, "build_exit_code")); err == nil {
			line, _, _ := strings.Cut(string(b), "\n")
			n, err := strconv.Atoi(strings.TrimSpace(line))
			if err != nil {
				return stageResult{Kind: "unknown", Output: out}
			}
			res.Code = n
		}
		return res
	case 2:
		return stageResult{Kind: "system", Output: out}
	}
	return stageResult{Kind: "unknown", Code: code, Output: out}
}

// cancel runs a stage and cancels it once marker appears in its output:
// SIGTERM to its process group, SIGKILL after grace (the runner's
// graceful_kill_timeout), as helpers/process/killer_unix.go does.
func (r *runnerSim) cancel(name, body, marker string, grace time.Duration) stageResult {
	r.t.Helper()
	cmd, out := r.command("gitlab", "run", r.script(body), name)
	buf := &lockedBuffer{b: out}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(buf.String(), marker) {
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			r.t.Fatalf("stage %s never printed %q: %s", name, marker, buf.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(grace):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
	return r.mapCode(cmd.ProcessState.ExitCode(), buf.String())
}

// bashScript is a stage script in the shape of shells/bash.go's Finish.
func bashScript(body string) string {
	return "#!/usr/bin/env bash\n\ntrap exit 1 TERM\n\nset -o pipefail\nset -o errexit\nset +o noclobber\n" +
		"( trap exit 1 TERM; eval " + ansiQuote(body) + " ) < /dev/null\nexit 0\n"
}

// ansiQuote quotes s as bash's $'...'.
func ansiQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\t", `\t`)
	return "$'" + r.Replace(s) + "'"
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
