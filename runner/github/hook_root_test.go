package github

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pipe-run/pipe/internal/pipetest"
	"github.com/pipe-run/pipe/internal/testimage"
)

// The tests below drive pipe's hook.sh as the GitHub Actions runner does
// (ContainerHookManager.cs, re-implemented from runners.md): the runner's
// directory layout, one camelCase JSON line on stdin shaped like the hooks
// project's examples/*.json, a response file the runner pre-creates empty
// under _work/_temp/_runner_hook_responses, and the exit code as the
// step's. Real containers: they need root (PIPE_TEST_ROOT=1).

const (
	jobImage    = "pipe.test/gh-job:1"
	alpineImage = "pipe.test/gh-alpine:1"
	webImage    = "pipe.test/gh-httpd:1"
)

type rootEnv struct {
	pipe, home string
	port       int
	err        error
}

var (
	rootOnce sync.Once
	shared   rootEnv
)

func needRoot(t *testing.T) *rootEnv {
	t.Helper()
	if os.Getenv("PIPE_TEST_ROOT") != "1" {
		t.Skip("needs root: set PIPE_TEST_ROOT=1")
	}
	if os.Geteuid() != 0 {
		t.Fatal("PIPE_TEST_ROOT=1 but not running as root")
	}
	rootOnce.Do(func() { shared.err = shared.setup() })
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return &shared
}

func (e *rootEnv) setup() error {
	dir, err := os.MkdirTemp("", "pipe-gha-test-")
	if err != nil {
		return err
	}
	e.home = filepath.Join(dir, "home")
	if e.pipe, err = pipetest.Build(dir); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	port := fmt.Sprint(e.port)
	images := map[string][]testimage.File{
		jobImage:    {{Path: "etc/pipe-image", Body: "the job image\n"}},
		alpineImage: {{Path: "etc/alpine-release", Body: "3.20.0\n"}},
		webImage:    {{Path: "www/index.html", Body: "pong from web\n"}},
	}
	for ref, files := range images {
		var edit func(*v1.Config)
		if ref == webImage {
			edit = func(c *v1.Config) {
				c.Cmd = []string{"httpd", "-f", "-p", port, "-h", "/www"}
				c.ExposedPorts = map[string]struct{}{port + "/tcp": {}}
			}
		}
		img, err := pipetest.Image(files, edit)
		if err != nil {
			return err
		}
		if err := pipetest.Import(e.pipe, e.home, ref, img); err != nil {
			return err
		}
	}
	return nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.home != "" {
		pipetest.DestroyJobs(shared.pipe, shared.home)
		os.RemoveAll(filepath.Dir(shared.home))
	}
	os.Exit(code)
}

// runnerHost is a runner's directory layout (TestSetup of the hooks
// project) and the hook.sh pipe installed for it.
type runnerHost struct {
	t                   *testing.T
	e                   *rootEnv
	root, work, temp    string
	externals, hook     string
	responses, fileCmds string
	n                   int
}

func newRunnerHost(t *testing.T, e *rootEnv) *runnerHost {
	root := t.TempDir()
	h := &runnerHost{t: t, e: e, root: root, work: filepath.Join(root, "_work"), externals: filepath.Join(root, "externals")}
	h.temp = filepath.Join(h.work, "_temp")
	h.responses = filepath.Join(h.temp, "_runner_hook_responses")
	h.fileCmds = filepath.Join(h.temp, "_runner_file_commands")
	for _, d := range []string{h.responses, h.fileCmds, filepath.Join(h.temp, "_github_home"), filepath.Join(h.temp, "_github_workflow"),
		filepath.Join(h.work, "_actions"), filepath.Join(h.work, "_tool"), filepath.Join(h.work, "repo", "repo"), filepath.Join(h.externals, "node20", "bin")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// A stand-in for the runner's node: JavaScript actions arrive as
	// run_script_step with /__e/node20/bin/node.
	os.WriteFile(filepath.Join(h.externals, "node20", "bin", "node"), []byte("#!/bin/sh\necho \"node ran $* in $(cat /etc/pipe-image)\"\n"), 0o755)
	cmd := exec.Command(e.pipe, "gha-hook", "install", filepath.Join(root, "hooks"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gha-hook install: %v\n%s", err, out)
	}
	h.hook = filepath.Join(root, "hooks", "hook.sh")
	return h
}

// systemMounts are the runner's system mounts (ContainerOperationProvider).
func (h *runnerHost) systemMounts() []map[string]any {
	m := func(src, dst string, ro bool) map[string]any {
		return map[string]any{"sourceVolumePath": src, "targetVolumePath": dst, "readOnly": ro}
	}
	return []map[string]any{
		m("/var/run/docker.sock", "/var/run/docker.sock", false), // hard-coded by the runner; missing here
		m(h.work, "/__w", false), m(h.externals, "/__e", true), m(h.temp, "/__w/_temp", false),
		m(filepath.Join(h.work, "_actions"), "/__w/_actions", false), m(filepath.Join(h.work, "_tool"), "/__w/_tool", false),
		m(filepath.Join(h.temp, "_github_home"), "/github/home", false), m(filepath.Join(h.temp, "_github_workflow"), "/github/workflow", false),
	}
}

// call runs one hook command as the runner does and returns its exit
// code, output and the response file's content.
func (h *runnerHost) call(command string, args any, state any) (int, string, []byte) {
	h.t.Helper()
	cmd, resp, out := h.command(command, args, state)
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		h.t.Fatal(err)
	}
	b, _ := os.ReadFile(resp)
	os.Remove(resp) // the runner deletes it once read
	return cmd.ProcessState.ExitCode(), out.String(), b
}

func (h *runnerHost) command(command string, args any, state any) (*exec.Cmd, string, *syncBuffer) {
	h.t.Helper()
	h.n++
	resp := filepath.Join(h.responses, fmt.Sprintf("%08d-0000-0000-0000-000000000000.json", h.n))
	if err := os.WriteFile(resp, nil, 0o644); err != nil {
		h.t.Fatal(err)
	}
	if state == nil {
		state = map[string]any{}
	}
	in, err := json.Marshal(map[string]any{"command": command, "responseFile": resp, "args": args, "state": state})
	if err != nil {
		h.t.Fatal(err)
	}
	out := &syncBuffer{}
	cmd := exec.Command("bash", h.hook)
	cmd.Stdin = strings.NewReader(string(in) + "\n")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Dir = filepath.Join(h.work, "repo", "repo")
	cmd.Env = append(os.Environ(), "PIPE_HOME="+h.e.home, "GITHUB_WORKSPACE="+filepath.Join(h.work, "repo", "repo"), "RUNNER_TEMP="+h.temp, "RUNNER_NAME=pipe-test")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, resp, out
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// prepared is prepare_job's response.
type prepared struct {
	State    State `json:"state"`
	IsAlpine *bool `json:"isAlpine"`
	Context  struct {
		Container *ContainerInfo  `json:"container"`
		Services  []ContainerInfo `json:"services"`
	} `json:"context"`
}

func (h *runnerHost) prepare(image string, services []map[string]any) prepared {
	h.t.Helper()
	args := map[string]any{
		"container": map[string]any{"image": image, "workingDirectory": "/__w/repo/repo", "createOptions": "--cpus 1",
			"environmentVariables": map[string]string{"NODE_ENV": "development"},
			"userMountVolumes":     []map[string]any{{"sourceVolumePath": "my_docker_volume", "targetVolumePath": "/volume_mount", "readOnly": false}},
			"systemMountVolumes":   h.systemMounts(), "registry": nil, "portMappings": []string{}},
		"services": services,
	}
	code, out, resp := h.call("prepare_job", args, nil)
	if code != 0 {
		h.t.Fatalf("prepare_job exited %d: %s", code, out)
	}
	var p prepared
	if err := json.Unmarshal(resp, &p); err != nil {
		h.t.Fatalf("prepare_job's response %q: %v (output %s)", resp, err, out)
	}
	if p.State.Job == "" || p.IsAlpine == nil || p.Context.Container == nil {
		h.t.Fatalf("prepare_job's response lacks state, isAlpine or the container: %s", resp)
	}
	h.t.Cleanup(func() { h.call("cleanup_job", map[string]any{}, p.State) })
	return p
}

func TestHookCommandsAsTheRunnerSendsThem(t *testing.T) {
	e := needRoot(t)
	h := newRunnerHost(t, e)
	port := fmt.Sprint(e.port)
	p := h.prepare(jobImage, []map[string]any{
		{"contextName": "web", "image": webImage, "createOptions": "", "environmentVariables": map[string]string{}, "userMountVolumes": []any{},
			"portMappings": []string{port + ":" + port}, "registry": nil},
		{"contextName": "second", "image": jobImage, "entryPoint": "sleep", "entryPointArgs": []string{"1000"}, "portMappings": []string{}},
	})
	if *p.IsAlpine {
		t.Errorf("isAlpine is true for a busybox image")
	}
	if len(p.Context.Services) != 2 || !strings.HasSuffix(p.Context.Services[0].ID, "-s0") || !strings.HasSuffix(p.Context.Services[1].ID, "-s1") ||
		p.Context.Services[0].Ports[port] != port {
		t.Errorf("context.services, in input order with web's port: %+v", p.Context.Services)
	}

	script := filepath.Join(h.temp, "1111.sh")
	os.WriteFile(script, []byte(`echo "in $(cat /etc/pipe-image) at $(pwd)"
echo "NODE_ENV=$NODE_ENV STEP_VAR=$STEP_VAR GITHUB_ACTIONS=$GITHUB_ACTIONS"
echo "PATH=$PATH"
echo "result=42" >> "$GITHUB_OUTPUT"
echo "FOO=bar" >> "$GITHUB_ENV"
wget -qO- http://web:`+port+`/
test -d /github/home && test -d /github/workflow && test -d /volume_mount && echo mounts ok
touch /__e/x 2>/dev/null || echo externals read-only
exit 3
`), 0o644)
	step := map[string]any{"entryPoint": "sh", "entryPointArgs": []string{"-e", "/__w/_temp/1111.sh"},
		"environmentVariables": map[string]string{"STEP_VAR": "v1", "GITHUB_OUTPUT": "/__w/_temp/_runner_file_commands/set_output_1111",
			"GITHUB_ENV": "/__w/_temp/_runner_file_commands/set_env_1111"},
		"prependPath": []string{"/opt/tool/bin", "/opt/other/bin"}, "workingDirectory": "/__w/repo/repo"}
	code, out, _ := h.call("run_script_step", step, p.State)
	if code != 3 {
		t.Errorf("run_script_step of a script that exits 3 exited %d: %s", code, out)
	}
	for _, want := range []string{"in the job image at /__w/repo/repo", "NODE_ENV=development STEP_VAR=v1 GITHUB_ACTIONS=true",
		"PATH=/opt/tool/bin:/opt/other/bin:/usr/local/sbin", "pong from web", "mounts ok", "externals read-only"} {
		if !strings.Contains(out, want) {
			t.Errorf("run_script_step's output lacks %q:\n%s", want, out)
		}
	}
	for file, want := range map[string]string{"set_output_1111": "result=42\n", "set_env_1111": "FOO=bar\n"} {
		if b, err := os.ReadFile(filepath.Join(h.fileCmds, file)); err != nil || string(b) != want {
			t.Errorf("the runner reads %s = %q, %v; want %q", file, b, err, want)
		}
	}

	js := map[string]any{"entryPoint": "/__e/node20/bin/node", "entryPointArgs": []string{"/__w/_actions/actions/checkout/v4/dist/index.js"},
		"environmentVariables": map[string]string{}, "prependPath": []string{}, "workingDirectory": "/__w/repo/repo"}
	if code, out, _ := h.call("run_script_step", js, p.State); code != 0 || !strings.Contains(out, "node ran /__w/_actions/actions/checkout/v4/dist/index.js in the job image") {
		t.Errorf("a JavaScript action with the runner's node: exit %d: %s", code, out)
	}

	cstep := map[string]any{"image": jobImage, "dockerfile": nil, "entryPoint": "sh",
		"entryPointArgs":   []string{"-c", "echo from the step container $STEP_ENV; cat /etc/pipe-image; wget -qO- http://web:" + port + "/; ls /github/workflow >/dev/null && exit 7"},
		"workingDirectory": "/__w/repo/repo", "createOptions": "", "environmentVariables": map[string]string{"STEP_ENV": "e1"},
		"userMountVolumes": []any{}, "systemMountVolumes": h.systemMounts(), "registry": nil, "portMappings": []string{}}
	code, out, _ = h.call("run_container_step", cstep, p.State)
	if code != 7 || !strings.Contains(out, "from the step container e1") || !strings.Contains(out, "the job image") || !strings.Contains(out, "pong from web") {
		t.Errorf("run_container_step: exit %d (want 7): %s", code, out)
	}
	docker := map[string]any{"image": nil, "dockerfile": "/__w/_actions/some/action/Dockerfile", "entryPointArgs": []string{}}
	if code, out, _ := h.call("run_container_step", docker, p.State); code == 0 || !strings.Contains(out, "does not build images yet") {
		t.Errorf("run_container_step from a Dockerfile: exit %d: %s", code, out)
	}

	if code, out, _ := h.call("cleanup_job", map[string]any{}, p.State); code != 0 {
		t.Fatalf("cleanup_job exited %d: %s", code, out)
	}
	for _, l := range pipetest.Leftovers(e.home, p.State.Job, "sleep 1000") {
		t.Errorf("left after cleanup_job: %s", l)
	}
}

func TestIsAlpineForAnAlpineImage(t *testing.T) {
	e := needRoot(t)
	h := newRunnerHost(t, e)
	p := h.prepare(alpineImage, []map[string]any{})
	if !*p.IsAlpine {
		t.Errorf("isAlpine is false for an image with /etc/alpine-release")
	}
	if len(p.Context.Services) != 0 {
		t.Errorf("services of a job with none: %+v", p.Context.Services)
	}
}

func TestKilledStepLeavesNothingAfterCleanup(t *testing.T) {
	e := needRoot(t)
	h := newRunnerHost(t, e)
	p := h.prepare(jobImage, nil)
	step := map[string]any{"entryPoint": "sh", "entryPointArgs": []string{"-c", "echo started; sleep 314"},
		"environmentVariables": map[string]string{}, "prependPath": []string{}, "workingDirectory": "/__w/repo/repo"}
	cmd, _, out := h.command("run_script_step", step, p.State)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(time.Minute); !strings.Contains(out.String(), "started") && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
	// The runner's cancel: SIGINT, then the process tree is killed.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	for end := time.Now().Add(20 * time.Second); len(pipetest.ProcessesWith("sleep 314")) > 0 && time.Now().Before(end); {
		time.Sleep(100 * time.Millisecond)
	}
	if left := pipetest.ProcessesWith("sleep 314"); len(left) > 0 {
		t.Errorf("a killed step's process lives on: %v", left)
	}
	if code, out, _ := h.call("cleanup_job", map[string]any{}, p.State); code != 0 {
		t.Fatalf("cleanup_job exited %d: %s", code, out)
	}
	for _, l := range pipetest.Leftovers(e.home, p.State.Job) {
		t.Errorf("left after cleanup_job: %s", l)
	}
}

func TestPrepareJobRemovesWhatAnEarlierJobOfTheRunnerLeft(t *testing.T) {
	e := needRoot(t)
	h := newRunnerHost(t, e)
	first := h.prepare(jobImage, nil)
	// The runner died before cleanup_job; its next job comes.
	second := h.prepare(jobImage, nil)
	for _, l := range pipetest.Leftovers(e.home, first.State.Job) {
		t.Errorf("left of the earlier job: %s", l)
	}
	step := map[string]any{"entryPoint": "true", "entryPointArgs": []string{}, "environmentVariables": map[string]string{}, "workingDirectory": "/"}
	if code, out, _ := h.call("run_script_step", step, second.State); code != 0 {
		t.Errorf("the new job does not run: %d %s", code, out)
	}
}
