package gitlab

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/pipe-run/pipe/internal/pipetest"
	"github.com/pipe-run/pipe/internal/testimage"
)

// The tests below drive the real pipe binary as GitLab Runner would
// (runnerSim), with real containers: they need root (PIPE_TEST_ROOT=1).

const (
	buildImage = "pipe.test/gl-build:1"
	httpdImage = "pipe.test/httpd:1"
	userImage  = "pipe.test/gl-user:1" // its USER is builder (uid 1000)
)

// rootEnv is the pipe binary and a store with the test images, made once.
type rootEnv struct {
	pipe, home string
	httpPort   int
	err        error
}

var (
	rootOnce sync.Once
	shared   rootEnv
)

// needRoot skips without PIPE_TEST_ROOT=1 and fails when it is set but the
// test cannot run.
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
	dir, err := os.MkdirTemp("", "pipe-gitlab-test-")
	if err != nil {
		return err
	}
	e.home = filepath.Join(dir, "home")
	if e.pipe, err = pipetest.Build(dir); err != nil {
		return err
	}
	if e.httpPort, err = freePort(); err != nil {
		return err
	}
	build, err := pipetest.Image([]testimage.File{{Path: "etc/pipe-image", Body: "the build image\n"}}, nil)
	if err != nil {
		return err
	}
	port := fmt.Sprint(e.httpPort)
	httpd, err := pipetest.Image([]testimage.File{{Path: "www/index.html", Body: "pong from the service\n"}}, func(c *v1.Config) {
		c.Cmd = []string{"httpd", "-f", "-p", port, "-h", "/www"}
		c.ExposedPorts = map[string]struct{}{port + "/tcp": {}}
	})
	if err != nil {
		return err
	}
	if err := pipetest.Import(e.pipe, e.home, buildImage, build); err != nil {
		return err
	}
	user, err := pipetest.Image(nil, func(c *v1.Config) { c.User = "builder" })
	if err != nil {
		return err
	}
	if err := pipetest.Import(e.pipe, e.home, userImage, user); err != nil {
		return err
	}
	return pipetest.Import(e.pipe, e.home, httpdImage, httpd)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.home != "" {
		pipetest.DestroyJobs(shared.pipe, shared.home)
		os.RemoveAll(filepath.Dir(shared.home))
	}
	os.Exit(code)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// jobVars are the predefined variables a job gets (those pipe and the
// scripts below use).
func jobVars(id string) map[string]string {
	return map[string]string{
		"CI_JOB_ID": id, "CI_RUNNER_ID": "77", "CI_JOB_NAME": "test-" + id,
		"CI_PROJECT_DIR": "/builds/group/project", "CI_BUILDS_DIR": "/builds",
		"CI_JOB_IMAGE": buildImage, "CI_JOB_SERVICES": "", "CI_JOB_TIMEOUT": "3600", "CI_PROJECT_ID": "p" + id,
	}
}

// gitDaemon serves a bare repo with one commit over git:// on loopback.
func gitDaemon(t *testing.T) (url, sha string) {
	t.Helper()
	dir := t.TempDir()
	work, bare := filepath.Join(dir, "work"), filepath.Join(dir, "srv", "repo.git")
	git := func(d string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = d
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.invalid")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	os.MkdirAll(work, 0o755)
	git(work, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(work, "README.md"), []byte("hello from the repo\n"), 0o644)
	git(work, "add", "README.md")
	git(work, "commit", "-q", "-m", "first")
	sha = git(work, "rev-parse", "HEAD")
	git(dir, "clone", "-q", "--bare", work, bare)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	d := exec.Command("git", "daemon", "--export-all", "--reuseaddr", "--listen=127.0.0.1", fmt.Sprintf("--port=%d", port), "--base-path="+filepath.Join(dir, "srv"), filepath.Join(dir, "srv"))
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Process.Kill(); d.Wait() })
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Sprintf("git://127.0.0.1:%d/repo.git", port), sha
}

// exports is how the runner's scripts begin: the job's variables.
func exports(vars map[string]string, more ...string) string {
	var b strings.Builder
	for _, k := range []string{"CI_JOB_ID", "CI_PROJECT_DIR", "CI_BUILDS_DIR"} {
		fmt.Fprintf(&b, "export %s=%s\n", k, vars[k])
	}
	for _, m := range more {
		fmt.Fprintf(&b, "export %s\n", m)
	}
	return b.String()
}

// runnerTool is a stand-in for the host's gitlab-runner binary: the cache
// and artifact stages call it in the helper container.
func runnerTool(t *testing.T) string {
	path := filepath.Join(t.TempDir(), "gitlab-runner")
	os.WriteFile(path, []byte("#!/bin/sh\necho \"fake gitlab-runner: $*\"\n"), 0o755)
	return path
}

// cacheOrMissing is the runner's shape of a stage that calls gitlab-runner.
func cacheOrMissing(cmd, what string) string {
	return fmt.Sprintf("if $(command -v gitlab-runner >/dev/null 2>/dev/null); then\n  gitlab-runner %s\nelse\n  echo \"Missing gitlab-runner. %s is disabled.\"\nfi\n", cmd, what)
}

func TestJobStagesAsTheRunnerCallsThem(t *testing.T) {
	e := needRoot(t)
	url, sha := gitDaemon(t)
	vars := jobVars("1001")
	vars["CI_JOB_SERVICES"] = `[{"name":"` + httpdImage + `","alias":"web","entrypoint":null,"command":null}]`
	r := newRunnerSim(t, e.pipe, e.home, vars, map[string]any{"id": 1001, "image": map[string]any{"name": buildImage}})
	r.extra = []string{"PIPE_GITLAB_RUNNER=" + runnerTool(t)}
	name := "gitlab-77-1001"
	t.Cleanup(func() { r.call("gitlab", "cleanup") })

	code, out := r.call("gitlab", "config")
	if code != 0 {
		t.Fatalf("config exited %d: %s", code, out)
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(out), &cfg); err != nil {
		t.Fatalf("config printed no JSON: %v: %q", err, out)
	}
	if cfg["builds_dir"] != "/builds" || cfg["cache_dir"] != "/cache" || cfg["builds_dir_is_shared"] != false {
		t.Errorf("config = %v", cfg)
	}
	if d, _ := cfg["driver"].(map[string]any); d["name"] != "pipe" || d["version"] == "" {
		t.Errorf("config driver = %v", cfg["driver"])
	}
	if je, _ := cfg["job_env"].(map[string]any); je["PIPE_GITLAB_JOB"] != name {
		t.Errorf("config job_env = %v, want PIPE_GITLAB_JOB=%s", cfg["job_env"], name)
	}
	if code, out := r.call("gitlab", "prepare"); code != 0 {
		t.Fatalf("prepare exited %d: %s", code, out)
	}
	proj := vars["CI_PROJECT_DIR"]
	steps := []struct {
		stage, body string
		want        stageResult
		contains    []string
	}{
		{"prepare_script", "echo \"Running on $(hostname) via pipe...\"\n", stageResult{Kind: "ok"}, []string{"Running on"}},
		{"get_sources", exports(vars) + "echo Fetching changes...\nmkdir -p " + proj + ".tmp\ngit init -q " + proj + "\ncd " + proj +
			"\ngit remote add origin " + url + "\ngit fetch -q origin\ngit checkout -q -f " + sha + "\necho checked out $(git rev-parse HEAD)\n",
			stageResult{Kind: "ok"}, []string{"checked out " + sha}},
		{"restore_cache", exports(vars) + cacheOrMissing("cache-extractor --file /cache/x.zip", "Extracting cache") + "echo cached > /cache/mark\n", stageResult{Kind: "ok"},
			[]string{"fake gitlab-runner: cache-extractor"}},
		{"build_script", exports(vars) + "cd " + proj + "\ncat /etc/pipe-image\ncat README.md\n" +
			"command -v git >/dev/null || echo no git in the build image\necho built > out.txt\n" +
			"wget -qO- http://web:" + fmt.Sprint(e.httpPort) + "/\nwget -qO- http://pipe.test__httpd:" + fmt.Sprint(e.httpPort) + "/\nexit 3\n",
			stageResult{Kind: "build", Code: 3}, []string{"the build image", "hello from the repo", "no git in the build image", "pong from the service\npong from the service"}},
		{"after_script", exports(vars, "CI_JOB_STATUS=failed") + "cd " + proj + "\necho status=$CI_JOB_STATUS\ncat out.txt\n",
			stageResult{Kind: "ok"}, []string{"status=failed", "built"}},
		{"upload_artifacts_on_failure", exports(vars) + cacheOrMissing("artifacts-uploader --path out.txt", "Uploading artifacts"),
			stageResult{Kind: "ok"}, []string{"fake gitlab-runner: artifacts-uploader"}},
		{"cleanup_file_variables", "rm -rf " + proj + ".tmp\n", stageResult{Kind: "ok"}, nil},
	}
	for _, s := range steps {
		got := r.stage(s.stage, s.body)
		if got.Kind != s.want.Kind || got.Code != s.want.Code {
			t.Errorf("stage %s: runner sees %s %d, want %s %d; output:\n%s", s.stage, got.Kind, got.Code, s.want.Kind, s.want.Code, got.Output)
		}
		for _, c := range s.contains {
			if !strings.Contains(got.Output, c) {
				t.Errorf("stage %s: output lacks %q:\n%s", s.stage, c, got.Output)
			}
		}
	}
	if code, out := r.call("gitlab", "cleanup"); code != 0 {
		t.Fatalf("cleanup exited %d: %s", code, out)
	}
	assertNothingLeft(t, e.home, name, "")
	if b, err := os.ReadFile(filepath.Join(e.home, "gitlab", "cache", "project-"+vars["CI_PROJECT_ID"], "mark")); err != nil || string(b) != "cached\n" {
		t.Errorf("the project's cache dir outlives the job: %q, %v", b, err)
	}
}

func TestArtifactStagesPassWithoutGitlabRunner(t *testing.T) {
	e := needRoot(t)
	vars := jobVars("1002")
	r := newRunnerSim(t, e.pipe, e.home, vars, map[string]any{"id": 1002})
	r.extra = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"} // no gitlab-runner on this host
	t.Cleanup(func() { r.call("gitlab", "cleanup") })
	if code, out := r.call("gitlab", "prepare"); code != 0 {
		t.Fatalf("prepare exited %d: %s", code, out)
	}
	got := r.stage("upload_artifacts_on_success", cacheOrMissing("artifacts-uploader", "Uploading artifacts"))
	if got.Kind != "ok" || !strings.Contains(got.Output, "Missing gitlab-runner. Uploading artifacts is disabled.") {
		t.Errorf("upload_artifacts_on_success: %s: %s", got.Kind, got.Output)
	}
	if got := r.stage("build_script", "exit 0\n"); got.Kind != "ok" {
		t.Errorf("build_script: %s %s", got.Kind, got.Output)
	}
}

func TestCancelTermReachesTheScript(t *testing.T) {
	e := needRoot(t)
	r := newRunnerSim(t, e.pipe, e.home, jobVars("1003"), map[string]any{"id": 1003})
	t.Cleanup(func() { r.call("gitlab", "cleanup") })
	if code, out := r.call("gitlab", "prepare"); code != 0 {
		t.Fatalf("prepare exited %d: %s", code, out)
	}
	got := r.cancel("build_script", "trap 'echo got TERM; exit 5' TERM\necho started\nsleep 311 &\nwait\n", "started", time.Minute)
	if got.Kind != "build" || got.Code != 5 || !strings.Contains(got.Output, "got TERM") {
		t.Errorf("a cancelled script that traps TERM: runner sees %s %d, output:\n%s", got.Kind, got.Code, got.Output)
	}
	if code, out := r.call("gitlab", "cleanup"); code != 0 {
		t.Fatalf("cleanup exited %d: %s", code, out)
	}
	assertNothingLeft(t, e.home, "gitlab-77-1003", "sleep 311")
}

func TestKilledRunLeavesNothingAfterCleanup(t *testing.T) {
	e := needRoot(t)
	r := newRunnerSim(t, e.pipe, e.home, jobVars("1004"), map[string]any{"id": 1004})
	t.Cleanup(func() { r.call("gitlab", "cleanup") })
	if code, out := r.call("gitlab", "prepare"); code != 0 {
		t.Fatalf("prepare exited %d: %s", code, out)
	}
	got := r.cancel("build_script", "trap '' TERM\necho started\nsleep 312\necho never\n", "started", 2*time.Second)
	if strings.Contains(got.Output, "never") || got.Kind == "ok" {
		t.Errorf("a killed stage: runner sees %s, output:\n%s", got.Kind, got.Output)
	}
	// The job's keeper kills what its killed client left, before cleanup.
	waitNoProcess(t, "sleep 312")
	if code, out := r.call("gitlab", "cleanup"); code != 0 {
		t.Fatalf("cleanup exited %d: %s", code, out)
	}
	assertNothingLeft(t, e.home, "gitlab-77-1004", "sleep 312")
}

func TestKeepFailedJobForDebugLast(t *testing.T) {
	e := needRoot(t)
	vars := jobVars("1005")
	vars["PIPE_KEEP_FAILED"] = "1"
	r := newRunnerSim(t, e.pipe, e.home, vars, map[string]any{"id": 1005})
	t.Cleanup(func() { r.call("gitlab", "cleanup") })
	if code, out := r.call("gitlab", "prepare"); code != 0 {
		t.Fatalf("prepare exited %d: %s", code, out)
	}
	body := exports(vars) + "mkdir -p $CI_PROJECT_DIR && echo left > $CI_PROJECT_DIR/state.txt\necho root-side > /root/marker\nexit 4\n"
	if got := r.stage("build_script", body); got.Kind != "build" || got.Code != 4 {
		t.Fatalf("build_script: %s %d: %s", got.Kind, got.Code, got.Output)
	}
	code, out := r.call("gitlab", "cleanup")
	if code != 0 || !strings.Contains(out, "pipe debug --last") {
		t.Fatalf("cleanup exited %d: %s", code, out)
	}
	assertNothingLeft(t, e.home, "gitlab-77-1005", "")
	kept := filepath.Join(e.home, "kept", "gitlab-77-1005")
	for path, want := range map[string]string{"ws/group/project/state.txt": "left\n", "root/root/marker": "root-side\n"} {
		if b, err := os.ReadFile(filepath.Join(kept, path)); err != nil || string(b) != want {
			t.Errorf("kept %s = %q, %v; want %q", path, b, err, want)
		}
	}
	cmd := exec.Command(e.pipe, "debug", "--last")
	cmd.Env = append(os.Environ(), "PIPE_HOME="+e.home)
	dbg, _ := cmd.CombinedOutput()
	if !strings.Contains(string(dbg), "test-1005") {
		t.Errorf("pipe debug --last does not offer the kept job:\n%s", dbg)
	}
	tarball := filepath.Join(t.TempDir(), "failed.tar")
	cmd = exec.Command(e.pipe, "debug", "--last", "--export", tarball)
	cmd.Env = append(os.Environ(), "PIPE_HOME="+e.home)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pipe debug --last --export: %v\n%s", err, out)
	}
	if files := imageFiles(t, tarball); files["builds/group/project/state.txt"] != "left\n" || files["root/marker"] != "root-side\n" {
		t.Errorf("the exported job lacks its builds dir or root: state.txt %q, marker %q", files["builds/group/project/state.txt"], files["root/marker"])
	}
	os.RemoveAll(kept)
}

func TestRunWithoutPrepareIsASystemFailure(t *testing.T) {
	e := needRoot(t)
	r := newRunnerSim(t, e.pipe, e.home, jobVars("1006"), map[string]any{"id": 1006})
	if got := r.stage("build_script", "echo hi\n"); got.Kind != "system" || !strings.Contains(got.Output, "did prepare run?") {
		t.Errorf("run before prepare: runner sees %s: %s", got.Kind, got.Output)
	}
	if code, out := r.call("gitlab", "cleanup"); code != 0 {
		t.Errorf("cleanup of a job never prepared exited %d: %s", code, out)
	}
	vars := jobVars("1007")
	vars["CI_JOB_IMAGE"] = "pipe.test/no-such-image:1"
	r = newRunnerSim(t, e.pipe, e.home, vars, map[string]any{"id": 1007})
	r.extra = []string{"PIPE_NETWORK=private"}
	code, out := r.call("gitlab", "prepare", "--network", "private")
	if code != 2 || !strings.Contains(out, "no-such-image") {
		t.Errorf("prepare of a missing image exited %d (want SYSTEM_FAILURE_EXIT_CODE 2): %s", code, out)
	}
	assertNothingLeft(t, e.home, "gitlab-77-1007", "")
}

// imageFiles reads the regular files of an image tarball's flattened root.
func imageFiles(t *testing.T, path string) map[string]string {
	t.Helper()
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string]string{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			files[strings.TrimPrefix(h.Name, "/")] = string(b)
		}
	}
	return files
}

// assertNothingLeft checks that nothing of the job is left on the host:
// no state dir, keeper or marked process, container record, cgroup or mount.
func assertNothingLeft(t *testing.T, home, job, marker string) {
	t.Helper()
	var markers []string
	if marker != "" {
		markers = append(markers, marker)
	}
	for _, l := range pipetest.Leftovers(home, job, markers...) {
		t.Errorf("left after the job: %s", l)
	}
}

// waitNoProcess waits (generously) until no process's command line holds s.
func waitNoProcess(t *testing.T, s string) {
	t.Helper()
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if len(pipetest.ProcessesWith(s)) == 0 {
			return
		}
	}
	t.Errorf("processes left: %v", pipetest.ProcessesWith(s))
}

func TestPrivateNetworkKeepsServicesAndLeavesTheHostOut(t *testing.T) {
	e := needRoot(t)
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	go func() {
		for {
			c, err := host.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nthe host\n"))
			c.Close()
		}
	}()
	hostURL := "http://" + host.Addr().String() + "/"
	vars := jobVars("1008")
	vars["PIPE_NETWORK"] = "none" // pipe run -f .gitlab-ci.yml's name for private
	vars["CI_JOB_SERVICES"] = `[{"name":"` + httpdImage + `","alias":"web","entrypoint":null,"command":null}]`
	r := newRunnerSim(t, e.pipe, e.home, vars, map[string]any{"id": 1008})
	t.Cleanup(func() { r.call("gitlab", "cleanup") })
	if code, out := r.call("gitlab", "prepare"); code != 0 {
		t.Fatalf("prepare exited %d: %s", code, out)
	}
	got := r.stage("build_script", "wget -qO- http://web:"+fmt.Sprint(e.httpPort)+"/\nwget -qO- -T 2 "+hostURL+" || echo the host is out of reach\n")
	if got.Kind != "ok" || !strings.Contains(got.Output, "pong from the service") || !strings.Contains(got.Output, "the host is out of reach") {
		t.Errorf("build_script on a private network: %s: %s", got.Kind, got.Output)
	}
	_, port, _ := net.SplitHostPort(host.Addr().String())
	tcp := "exec 3<>/dev/tcp/127.0.0.1/" + port + "\ncat <&3\n" // the host's server answers at once
	if got := r.stage("get_sources", tcp); got.Kind != "ok" || !strings.Contains(got.Output, "the host") {
		t.Errorf("the helper keeps the host's network: %s: %s", got.Kind, got.Output)
	}
	if code, out := r.call("gitlab", "cleanup"); code != 0 {
		t.Fatalf("cleanup exited %d: %s", code, out)
	}
	assertNothingLeft(t, e.home, "gitlab-77-1008", "")
}

func TestBuildImageOfANonRootUserWritesTheCheckout(t *testing.T) {
	e := needRoot(t)
	url, sha := gitDaemon(t)
	vars := jobVars("1009")
	vars["CI_JOB_IMAGE"] = userImage
	r := newRunnerSim(t, e.pipe, e.home, vars, map[string]any{"id": 1009})
	t.Cleanup(func() { r.call("gitlab", "cleanup") })
	if code, out := r.call("gitlab", "prepare"); code != 0 {
		t.Fatalf("prepare exited %d: %s", code, out)
	}
	proj := vars["CI_PROJECT_DIR"]
	if got := r.stage("get_sources", "git clone -q "+url+" "+proj+"\ncd "+proj+"\ngit checkout -q "+sha+"\n"); got.Kind != "ok" {
		t.Fatalf("get_sources: %s: %s", got.Kind, got.Output)
	}
	got := r.stage("build_script", "cd "+proj+"\nid -u\necho more >> README.md\necho new > made.txt\nmkdir sub && cat README.md\n")
	if got.Kind != "ok" || !strings.HasPrefix(got.Output, "1000\n") || !strings.Contains(got.Output, "hello from the repo\nmore") {
		t.Errorf("build_script as builder in a checkout made by the helper: %s: %s", got.Kind, got.Output)
	}
}

func TestServiceThatDiesIsToldInTheJobLog(t *testing.T) {
	e := needRoot(t)
	vars := jobVars("1010")
	vars["CI_JOB_SERVICES"] = `[{"name":"` + httpdImage + `","alias":"db","entrypoint":["sh","-c"],"command":["echo cannot open the data dir; exit 1"]}]`
	r := newRunnerSim(t, e.pipe, e.home, vars, map[string]any{"id": 1010})
	t.Cleanup(func() { r.call("gitlab", "cleanup") })
	code, out := r.call("gitlab", "prepare")
	if code != 0 || !strings.Contains(out, "service db ("+httpdImage+"): exited with code 1") || !strings.Contains(out, "cannot open the data dir") {
		t.Errorf("prepare with a service that dies: exit %d, output:\n%s", code, out)
	}
}
