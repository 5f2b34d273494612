package gitlab

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Env is what the runner passes to every stage: its own environment, with
// the job's variables as CUSTOM_ENV_<KEY>, the exit-code variables, and
// the paths of the job's response and exit-code files.
type Env struct {
	Lookup func(string) (string, bool) // os.LookupEnv in pipe; a map in tests
}

// OSEnv is the process's environment.
func OSEnv() Env { return Env{Lookup: os.LookupEnv} }

func (e Env) get(k string) string {
	v, _ := e.Lookup(k)
	return v
}

// Var is the job variable key (CUSTOM_ENV_<key>).
func (e Env) Var(key string) string { return e.get("CUSTOM_ENV_" + key) }

// code reads one of the runner's exit-code variables.
func (e Env) code(name string, def int) int {
	if n, err := strconv.Atoi(e.get(name)); err == nil {
		return n
	}
	return def
}

// BuildFailure is the exit code for a failed script (BUILD_FAILURE_EXIT_CODE).
func (e Env) BuildFailure() int { return e.code("BUILD_FAILURE_EXIT_CODE", 1) }

// SystemFailure is the exit code for a failure of pipe (SYSTEM_FAILURE_EXIT_CODE).
func (e Env) SystemFailure() int { return e.code("SYSTEM_FAILURE_EXIT_CODE", 2) }

// JobName names the job's pipe job: the same in every stage of one job,
// different for every job the runner host runs (the runner, the job id,
// and GitLab's own concurrency slot).
func (e Env) JobName() (string, error) {
	if n := e.get("PIPE_GITLAB_JOB"); n != "" { // from config's job_env
		return n, nil
	}
	job := e.Var("CI_JOB_ID")
	if job == "" {
		return "", fmt.Errorf("CUSTOM_ENV_CI_JOB_ID is not set: pipe gitlab must be run by GitLab Runner's Custom executor (see the README's config.toml)")
	}
	runner := firstOf(e.Var("CI_RUNNER_ID"), e.Var("CI_RUNNER_SHORT_TOKEN"), "0")
	name := "gitlab-" + safe(runner) + "-" + safe(job)
	if len(name) > 64 {
		sum := sha256.Sum256([]byte(name))
		name = "gitlab-" + hex.EncodeToString(sum[:12])
	}
	return name, nil
}

// truthy says whether a variable is set to a true value.
func truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// safe keeps [a-zA-Z0-9_.-] of s.
func safe(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' {
			b.WriteByte(c)
		}
	}
	if b.Len() == 0 {
		return "x"
	}
	return b.String()
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
