package gitlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/job"
	"github.com/pipe-run/pipe/isolation"
)

// The paths every job sees, in its build container and its helper alike
// (the runner's scripts embed them): the builds dir is the job's own, the
// cache dir is shared by the jobs of one project on the runner host.
const (
	BuildsDir = "/builds"
	CacheDir  = "/cache"
)

// helperRunner is where the host's gitlab-runner binary appears in the
// helper container (first in its PATH).
const helperRunner = "/opt/pipe/bin/gitlab-runner"

// Driver runs the stages of GitLab jobs on this host.
type Driver struct {
	Store   *cache.Store
	Runtime isolation.Options // the zero value is pipe's default
	Env     Env
	Stdout  io.Writer // the job log
	Stderr  io.Writer // the job log (prepare, run), the runner's log (cleanup)
	Version string    // pipe's version, for config's driver line
	// KeepFailed keeps a failed job for pipe debug --last (also set by the
	// job or runner variable PIPE_KEEP_FAILED).
	KeepFailed bool
	// DefaultImage is the image of a job with none.
	DefaultImage string
	// Pull is the pull policy of jobs whose image names none (pull_policy:
	// always, if-not-present or never); "" is if-not-present (the job token
	// is then not asked for an image already in the store: use always on a
	// runner shared by projects that must not see each other's images).
	Pull cache.PullPolicy
	// Network is "host" or "private" ("" is host; the job or runner variable
	// PIPE_NETWORK sets it too).
	Network string
	// RunnerBinary is the host's gitlab-runner for the helper; "" means the
	// variable PIPE_GITLAB_RUNNER, else gitlab-runner in PATH (the cache and
	// artifact stages skip without it).
	RunnerBinary string
}

// SystemError is a failure of pipe or of the host, not of the job's script:
// the stage exits with SYSTEM_FAILURE_EXIT_CODE.
type SystemError struct{ Err error }

func (e *SystemError) Error() string { return e.Err.Error() }
func (e *SystemError) Unwrap() error { return e.Err }

// BuildError is a script that failed: the stage exits with
// BUILD_FAILURE_EXIT_CODE, its code in BUILD_EXIT_CODE_FILE.
type BuildError struct {
	Stage string
	Code  int
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("stage %s: the script exited with code %d", e.Stage, e.Code)
}

// ExitCode is the code the stage's process exits with for err, in the
// runner's convention.
func (d *Driver) ExitCode(err error) int {
	var be *BuildError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &be):
		return d.Env.BuildFailure()
	default:
		return d.Env.SystemFailure()
	}
}

// configOutput is config_exec's JSON (api.ConfigExecOutput).
type configOutput struct {
	Driver            configDriver      `json:"driver"`
	BuildsDir         string            `json:"builds_dir"`
	CacheDir          string            `json:"cache_dir"`
	BuildsDirIsShared bool              `json:"builds_dir_is_shared"`
	JobEnv            map[string]string `json:"job_env,omitempty"`
}

type configDriver struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Config writes config_exec's JSON to Stdout.
func (d *Driver) Config() error {
	out := configOutput{Driver: configDriver{Name: "pipe", Version: firstOf(d.Version, "dev")},
		BuildsDir: BuildsDir, CacheDir: CacheDir}
	if name, err := d.Env.JobName(); err == nil {
		out.JobEnv = map[string]string{"PIPE_GITLAB_JOB": name}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return &SystemError{err}
	}
	_, err = fmt.Fprintln(d.Stdout, string(b))
	return err
}

// setting is a pipe setting from the job's variables, else the runner's env.
func (d *Driver) setting(name string) string {
	return firstOf(d.Env.Var(name), d.Env.get(name))
}

// Prepare creates the job: its services, its build container from the
// job's image and its helper container. They live on after this process.
func (d *Driver) Prepare(ctx context.Context) error {
	name, err := d.Env.JobName()
	if err != nil {
		return &SystemError{err}
	}
	resp, err := readResponse(d.Env.get("JOB_RESPONSE_FILE"))
	if err != nil {
		return &SystemError{err}
	}
	spec, err := d.jobSpec(name, resp)
	if err != nil {
		return &SystemError{err}
	}
	for _, c := range spec.Containers {
		if c.Image != "" {
			fmt.Fprintf(d.Stdout, "pipe: job %s: image %s\n", name, c.Image)
		}
	}
	for _, s := range spec.Services {
		fmt.Fprintf(d.Stdout, "pipe: job %s: service %s as %v\n", name, s.Image, s.Aliases)
	}
	pull, err := d.pullPolicy(resp)
	if err != nil {
		return &SystemError{err}
	}
	o := job.Options{Store: d.Store, Runtime: d.Runtime, Keychain: newKeychain(resp, d.Env), Pull: pull}
	// A job of this name is what a failed earlier attempt of prepare left
	// (the runner retries it): it goes first.
	if err := job.Destroy(ctx, d.Store, name); err != nil {
		return &SystemError{err}
	}
	j, err := job.Create(ctx, spec, o)
	if err != nil {
		return &SystemError{err}
	}
	for _, n := range j.Notes {
		fmt.Fprintf(d.Stdout, "pipe: warning: %s\n", n)
	}
	fmt.Fprintf(d.Stdout, "pipe: job %s is up\n", name)
	return nil
}

// jobSpec is the executor job of a GitLab job.
func (d *Driver) jobSpec(name string, resp *Response) (*job.Spec, error) {
	image := firstOf(d.Env.Var("CI_JOB_IMAGE"), resp.Image.Name, d.DefaultImage, d.setting("PIPE_DEFAULT_IMAGE"))
	if image == "" {
		return nil, errors.New("the job has no image: set image: in .gitlab-ci.yml, or give the runner a default (pipe gitlab prepare --default-image IMAGE)")
	}
	list, err := parseServices(d.Env.Var("CI_JOB_SERVICES"))
	if err != nil {
		return nil, err
	}
	if _, ok := d.Env.Lookup("CUSTOM_ENV_CI_JOB_SERVICES"); !ok {
		list = resp.Services
	}
	network := firstOf(d.setting("PIPE_NETWORK"), d.Network, "host")
	if network == "none" { // pipe run -f .gitlab-ci.yml's name for it
		network = "private"
	}
	if network != "host" && network != "private" {
		return nil, fmt.Errorf("PIPE_NETWORK=%q: want host, or private (none): loopback and services only", network)
	}
	// One cache dir per project, as the Docker executor's cache volumes are:
	// a job never sees another project's caches.
	shared := filepath.Join(d.Store.Root(), "gitlab", "cache", "project-"+safe(firstOf(d.Env.Var("CI_PROJECT_ID"), "0")))
	if err := os.MkdirAll(shared, 0o755); err != nil {
		return nil, err
	}
	mounts := []isolation.Mount{
		{Type: isolation.MountBind, Source: "builds", Target: BuildsDir}, // in the job's state dir
		{Type: isolation.MountBind, Source: shared, Target: CacheDir},
	}
	helper := job.Container{Name: "helper", HostTools: true, Mounts: mounts, HostNetwork: true,
		Env: []string{"PATH=/opt/pipe/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}}
	if bin := d.runnerBinary(); bin != "" {
		helper.HostFiles = map[string]string{helperRunner: bin}
	}
	spec := &job.Spec{Name: name, Network: network, MaxLife: d.maxLife(),
		Containers: []job.Container{{Name: "build", Image: image, Mounts: mounts, KeepRoot: true}, helper},
		Services:   jobServices(list)}
	return spec, nil
}

// pullPolicy is the image's pull_policy, else the runner's.
func (d *Driver) pullPolicy(resp *Response) (cache.PullPolicy, error) {
	if len(resp.Image.PullPolicy) == 0 {
		return d.Pull, nil
	}
	switch p := resp.Image.PullPolicy[0]; p {
	case "always":
		return cache.PullAlways, nil
	case "if-not-present":
		return cache.PullMissing, nil
	case "never":
		return cache.PullNever, nil
	default:
		return "", fmt.Errorf("image pull_policy %q: want always, if-not-present or never", p)
	}
}

// runnerBinary is the host's gitlab-runner, or "".
func (d *Driver) runnerBinary() string {
	if p := firstOf(d.RunnerBinary, d.Env.get("PIPE_GITLAB_RUNNER")); p != "" {
		return p
	}
	p, err := exec.LookPath("gitlab-runner")
	if err != nil {
		return ""
	}
	if abs, err := filepath.EvalSymlinks(p); err == nil {
		return abs
	}
	return p
}

// maxLife is how long a job may live unattended: its timeout and an hour
// (a runner that died never calls cleanup).
func (d *Driver) maxLife() time.Duration {
	if s, err := strconv.Atoi(d.Env.Var("CI_JOB_TIMEOUT")); err == nil && s > 0 {
		return time.Duration(s)*time.Second + time.Hour
	}
	return 25 * time.Hour
}
