package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/pipe-run/pipe/executor/job"
)

// Where each stage runs, as GitLab's Docker executor decides: the user's
// scripts (build_script, the step_* of other steps, after_script, and any
// stage GitLab adds later) in the build container, from the job's image;
// the runner's own stages in the helper container, of the host's git and
// gitlab-runner, so nothing must be installed in the user's image.
var helperStages = map[string]bool{
	"prepare_script": true, "get_sources": true, "clear_worktree": true,
	"restore_cache": true, "download_artifacts": true,
	"archive_cache": true, "archive_cache_on_failure": true,
	"upload_artifacts_on_success": true, "upload_artifacts_on_failure": true,
	"cleanup_file_variables": true,
}

// ContainerOf is the job container a stage runs in.
func ContainerOf(stage string) string {
	if helperStages[stage] {
		return "helper"
	}
	return "build"
}

// userStage says whether a stage is the user's script, whose failure is
// the job's (for --keep-failed).
func userStage(stage string) bool {
	return stage == "build_script" || stage == "step_script" || strings.HasPrefix(stage, "step_")
}

// shellArgs run the script from stdin with bash, else sh (images without
// bash, such as Alpine's).
var shellArgs = []string{"/bin/sh", "-c", "if command -v bash >/dev/null 2>&1; then exec bash; fi; exec sh"}

// helperArgs run the runner's own stages with umask 0000, as GitLab's
// Docker executor does in its helper: the checkout, caches and artifacts
// stay writable for a build image whose user is not root.
var helperArgs = []string{"/bin/sh", "-c", "umask 0000; exec bash"}

// failedRecord is gitlab-failed.json in the job's state dir: the user
// stage that failed, for cleanup.
type failedRecord struct {
	Stage    string `json:"stage"`
	ExitCode int    `json:"exit_code"`
}

// Run runs the script of one stage in the job's container. The script's
// output is the stage's; sigs (the runner's SIGTERM on cancel or timeout)
// are forwarded to the script's process group. A script that fails is a
// *BuildError (its code written to BUILD_EXIT_CODE_FILE); anything else
// that fails is a *SystemError.
func (d *Driver) Run(ctx context.Context, script, stage string, sigs <-chan syscall.Signal) error {
	name, err := d.Env.JobName()
	if err != nil {
		return &SystemError{err}
	}
	f, err := os.Open(script)
	if err != nil {
		return &SystemError{fmt.Errorf("stage %s: the runner's script: %w", stage, err)}
	}
	defer f.Close()
	j, err := job.Open(d.Store, name)
	if err != nil {
		return &SystemError{fmt.Errorf("stage %s: %w (did prepare run?)", stage, err)}
	}
	stdout, stderr, closeOut, err := outputFiles(d)
	if err != nil {
		return &SystemError{err}
	}
	defer closeOut()
	args := shellArgs
	if ContainerOf(stage) == "helper" {
		args = helperArgs
	}
	res, err := j.Exec(ctx, ContainerOf(stage), job.Process{Args: args, Dir: "/",
		Stdin: f, Stdout: stdout, Stderr: stderr, Signals: sigs})
	if err != nil {
		return &SystemError{fmt.Errorf("stage %s: %w", stage, err)}
	}
	if res.ExitCode == 0 {
		return nil
	}
	if userStage(stage) {
		_ = os.WriteFile(filepath.Join(j.Dir, "gitlab-failed.json"), mustJSON(failedRecord{Stage: stage, ExitCode: res.ExitCode}), 0o600)
	}
	if err := d.writeExitCode(res.ExitCode); err != nil {
		return &SystemError{err}
	}
	return &BuildError{Stage: stage, Code: res.ExitCode}
}

// writeExitCode writes the script's code where the runner reads it.
func (d *Driver) writeExitCode(code int) error {
	path := d.Env.get("BUILD_EXIT_CODE_FILE")
	if path == "" {
		return nil
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(code)+"\n"), 0o600); err != nil {
		return fmt.Errorf("BUILD_EXIT_CODE_FILE: %w", err)
	}
	return nil
}

// outputFiles are files for the script's stdout and stderr: the Driver's
// writers when they are files, else pipes copied into them.
func outputFiles(d *Driver) (*os.File, *os.File, func(), error) {
	var closers []func()
	get := func(w io.Writer) (*os.File, error) {
		if f, ok := w.(*os.File); ok {
			return f, nil
		}
		r, pw, err := os.Pipe()
		if err != nil {
			return nil, err
		}
		done := make(chan struct{})
		go func() { _, _ = io.Copy(w, r); close(done) }()
		closers = append(closers, func() { pw.Close(); <-done; r.Close() })
		return pw, nil
	}
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	out, err := get(d.Stdout)
	if err != nil {
		return nil, nil, closeAll, err
	}
	errf, err := get(d.Stderr)
	if err != nil {
		closeAll()
		return nil, nil, func() {}, err
	}
	return out, errf, closeAll, nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// Cleanup removes the job: its containers, services, mounts and cgroups,
// and its state dir; also after a killed run, and when prepare never got
// as far as starting it. With KeepFailed a job whose script failed is kept
// for pipe debug --last instead.
func (d *Driver) Cleanup(ctx context.Context) error {
	name, err := d.Env.JobName()
	if err != nil {
		return err
	}
	dir := job.Dir(d.Store, name)
	if d.KeepFailed || truthy(d.setting("PIPE_KEEP_FAILED")) {
		if b, err := os.ReadFile(filepath.Join(dir, "gitlab-failed.json")); err == nil {
			var fr failedRecord
			if json.Unmarshal(b, &fr) == nil {
				return d.keep(ctx, name, dir, fr)
			}
		}
	}
	return job.Destroy(ctx, d.Store, name)
}

// keep keeps the failed job's build container.
func (d *Driver) keep(ctx context.Context, name, dir string, fr failedRecord) error {
	step := firstOf(d.Env.Var("CI_JOB_NAME"), name)
	kept, err := job.Keep(ctx, d.Store, name, job.KeepOptions{
		Container: "build", Workspace: filepath.Join(dir, "builds"), Target: BuildsDir,
		Step: step, Dir: d.Env.Var("CI_PROJECT_DIR"), ExitCode: fr.ExitCode,
		Error: fmt.Sprintf("GitLab job %s: stage %s exited %d", step, fr.Stage, fr.ExitCode)})
	if err != nil {
		return errors.Join(err, job.Destroy(ctx, d.Store, name))
	}
	fmt.Fprintf(d.Stderr, "pipe: kept the failed job %s in %s: pipe debug --last opens a shell in it\n", name, kept)
	return nil
}
