package gitlab

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

func mapEnv(m map[string]string) Env {
	return Env{Lookup: func(k string) (string, bool) { v, ok := m[k]; return v, ok }}
}

func TestServiceAliasesAsGitLabDerivesThem(t *testing.T) {
	for _, tc := range []struct {
		svc  Service
		want []string
	}{
		{Service{Name: "postgres:16"}, []string{"postgres"}},
		{Service{Name: "registry.example.com/group/tool:1.0", Alias: "tool"}, []string{"tool", "registry.example.com__group__tool", "registry.example.com-group-tool"}},
		{Service{Name: "localhost:5000/db@sha256:abcd", Alias: "a,b c"}, []string{"a", "b", "c", "localhost:5000__db", "localhost:5000-db"}},
		{Service{Name: "redis"}, []string{"redis"}},
	} {
		if got := tc.svc.Aliases(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v: aliases %v, want %v", tc.svc, got, tc.want)
		}
	}
}

func TestParseServicesOfTheDocumentedShape(t *testing.T) {
	// The shape of docs/executors/custom.md's CI_JOB_SERVICES example.
	in := `[{"name":"redis:latest","alias":"","entrypoint":null,"command":null},` +
		`{"name":"my-postgres:9.4","alias":"pg","entrypoint":["path","to","entrypoint"],"command":["path","to","cmd"],"variables":{"POSTGRES_DB":"x"}}]`
	list, err := parseServices(in)
	if err != nil {
		t.Fatal(err)
	}
	js := jobServices(list)
	if len(js) != 2 || js[1].Image != "my-postgres:9.4" || !reflect.DeepEqual(js[1].Entrypoint, []string{"path", "to", "entrypoint"}) ||
		!reflect.DeepEqual(js[1].Command, []string{"path", "to", "cmd"}) || !reflect.DeepEqual(js[1].Env, []string{"POSTGRES_DB=x"}) ||
		!reflect.DeepEqual(js[1].Aliases, []string{"pg", "my-postgres"}) {
		t.Errorf("services: %+v", js)
	}
	if l, err := parseServices(""); err != nil || l != nil {
		t.Errorf("empty CI_JOB_SERVICES: %v, %v", l, err)
	}
	for _, bad := range []string{"{", `[{"alias":"x"}]`, `"x"`} {
		if _, err := parseServices(bad); err == nil || !strings.Contains(err.Error(), "CUSTOM_ENV_CI_JOB_SERVICES") {
			t.Errorf("parseServices(%q) = %v, want an error naming the variable", bad, err)
		}
	}
}

func FuzzParseServices(f *testing.F) {
	f.Add(`[{"name":"redis:7","alias":"r","entrypoint":null,"command":["a"],"variables":{"A":"b"}}]`)
	f.Add(`[{"name":"a/b/c@sha256:00","alias":" , "}]`)
	f.Fuzz(func(t *testing.T, s string) {
		list, err := parseServices(s)
		if err != nil {
			return
		}
		for _, js := range jobServices(list) {
			for _, a := range js.Aliases {
				if !hostName(a) {
					t.Errorf("alias %q of %q", a, s)
				}
			}
		}
	})
}

func TestConfigPrintsTheDriverJSON(t *testing.T) {
	var out bytes.Buffer
	d := &Driver{Env: mapEnv(map[string]string{"CUSTOM_ENV_CI_JOB_ID": "9", "CUSTOM_ENV_CI_RUNNER_ID": "3"}), Stdout: &out, Version: "v1.2"}
	if err := d.Config(); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"driver": map[string]any{"name": "pipe", "version": "v1.2"}, "builds_dir": "/builds", "cache_dir": "/cache",
		"builds_dir_is_shared": false, "job_env": map[string]any{"PIPE_GITLAB_JOB": "gitlab-3-9"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("config = %v, want %v", got, want)
	}
}

func TestStagesRunWhereTheDockerExecutorRunsThem(t *testing.T) {
	for stage, want := range map[string]string{
		"prepare_script": "helper", "get_sources": "helper", "clear_worktree": "helper", "restore_cache": "helper",
		"download_artifacts": "helper", "archive_cache": "helper", "archive_cache_on_failure": "helper",
		"upload_artifacts_on_success": "helper", "upload_artifacts_on_failure": "helper", "cleanup_file_variables": "helper",
		"build_script": "build", "step_script": "build", "step_release": "build", "after_script": "build", "some_future_stage": "build",
	} {
		if got := ContainerOf(stage); got != want {
			t.Errorf("stage %s runs in %s, want %s", stage, got, want)
		}
	}
}

func TestExitCodesFollowTheRunnersVariables(t *testing.T) {
	d := &Driver{Env: mapEnv(map[string]string{"BUILD_FAILURE_EXIT_CODE": "11", "SYSTEM_FAILURE_EXIT_CODE": "12"})}
	if d.ExitCode(nil) != 0 || d.ExitCode(&BuildError{Code: 3}) != 11 || d.ExitCode(&SystemError{errors.New("x")}) != 12 || d.ExitCode(errors.New("x")) != 12 {
		t.Error("exit codes do not follow BUILD_FAILURE_EXIT_CODE and SYSTEM_FAILURE_EXIT_CODE")
	}
	d = &Driver{Env: mapEnv(nil)}
	if d.ExitCode(&BuildError{Code: 3}) != 1 || d.ExitCode(errors.New("x")) != 2 {
		t.Error("the default exit codes are not 1 and 2")
	}
}

func TestJobNameNeedsTheRunner(t *testing.T) {
	if _, err := mapEnv(nil).JobName(); err == nil || !strings.Contains(err.Error(), "Custom executor") {
		t.Errorf("JobName without CI_JOB_ID: %v", err)
	}
	n, err := mapEnv(map[string]string{"CUSTOM_ENV_CI_JOB_ID": "1/../2", "CUSTOM_ENV_CI_RUNNER_ID": strings.Repeat("r", 90)}).JobName()
	if err != nil || len(n) > 64 || strings.ContainsAny(n, "/") {
		t.Errorf("JobName of hostile ids = %q, %v", n, err)
	}
}

func TestKeychainUsesTheJobsCredentials(t *testing.T) {
	env := mapEnv(map[string]string{
		"CUSTOM_ENV_CI_REGISTRY": "registry.example.com:5050", "CUSTOM_ENV_CI_REGISTRY_USER": "gitlab-ci-token", "CUSTOM_ENV_CI_REGISTRY_PASSWORD": "jobtok",
		"CUSTOM_ENV_DOCKER_AUTH_CONFIG": `{"auths":{"https://other.example.com":{"auth":"dTpw"}}}`,
	})
	resp := &Response{Credentials: []Credential{{Type: "registry", URL: "third.example.com", Username: "a", Password: "b"}}}
	k := newKeychain(resp, env)
	for host, want := range map[string]authn.AuthConfig{
		"registry.example.com:5050": {Username: "gitlab-ci-token", Password: "jobtok"},
		"other.example.com":         {Username: "u", Password: "p"},
		"third.example.com":         {Username: "a", Password: "b"},
	} {
		reg, _ := name.NewRegistry(host)
		a, err := k.Resolve(reg)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := a.Authorization()
		if got.Username != want.Username || got.Password != want.Password {
			t.Errorf("%s: %+v, want %+v", host, got, want)
		}
	}
}

func TestPullPolicyOfTheJobsImage(t *testing.T) {
	d := &Driver{Pull: "never"}
	for in, want := range map[string]string{"always": "always", "if-not-present": "missing", "never": "never", "": "never"} {
		r := &Response{}
		if in != "" {
			r.Image.PullPolicy = []string{in}
		}
		if got, err := d.pullPolicy(r); err != nil || string(got) != want {
			t.Errorf("pull_policy %q: %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := d.pullPolicy(&Response{Image: ImageSpec{PullPolicy: []string{"sometimes"}}}); err == nil {
		t.Error("pull_policy sometimes: no error")
	}
}
