package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/internal/testimage"
)

// gitlabRun runs pipe run -f .gitlab-ci.yml --json in e's repo and returns
// the events and the exit code.
func glPipeline(t *testing.T, e *runEnv, ci string, args ...string) ([]runlog.Event, int, string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(e.repo, ".gitlab-ci.yml"), []byte(ci), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := e.command(append([]string{"run", "-f", ".gitlab-ci.yml", "--json"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Run()
	var events []runlog.Event
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var ev runlog.Event
		if json.Unmarshal([]byte(line), &ev) == nil {
			events = append(events, ev)
		}
	}
	return events, cmd.ProcessState.ExitCode(), stderr.String()
}

// glLog is what the events say of each step: status, lines, order.
type glLog struct {
	status  map[string]runlog.Status
	lines   map[string][]string
	started map[string]int // index of step_started
	ended   map[string]int // index of step_finished
}

func readGLLog(events []runlog.Event) glLog {
	l := glLog{status: map[string]runlog.Status{}, lines: map[string][]string{}, started: map[string]int{}, ended: map[string]int{}}
	for i, ev := range events {
		switch ev.Type {
		case runlog.EventStepStarted:
			l.started[ev.Step] = i
		case runlog.EventStepFinished:
			l.status[ev.Step], l.ended[ev.Step] = ev.Status, i
		case runlog.EventStepLog:
			l.lines[ev.Step] = append(l.lines[ev.Step], ev.Line)
		}
	}
	return l
}

func (l glLog) has(step, line string) bool {
	for _, s := range l.lines[step] {
		if s == line {
			return true
		}
	}
	return false
}

// A GitLab pipeline in real containers: stages in order, artifacts passed
// along (and nothing else), a parallel matrix, a service reached by its
// alias and by the name GitLab derives from its image, after_script after a
// failure with CI_JOB_STATUS, rules, an exit code allowed to fail, and a
// when: on_failure job that runs only after a failure.
func TestRunGitLabPipeline(t *testing.T) {
	needsRoot(t)
	e := newRunEnv(t, "steps:\n  unused: {run: \"true\"}\n")
	ci := `
image: ` + runTestImage + `
stages: [build, test, report]
variables:
  GREETING: hello
compile:
  stage: build
  script:
    - mkdir -p out && echo "$GREETING from $CI_JOB_NAME on $CI_COMMIT_REF_NAME" > out/msg.txt
    - echo scratch > not-an-artifact.txt
  artifacts:
    paths: [out/]
test:
  stage: test
  script:
    - cat out/msg.txt
    - test ! -e not-an-artifact.txt
    - echo "matrix V=$V of $CI_NODE_TOTAL"
  parallel:
    matrix:
      - V: [a, b]
with-service:
  stage: test
  services:
    - name: ` + runTestImage + `
      alias: db
      command: [sh, -c, "echo served > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"]
  script:
    - for i in $(seq 100); do wget -q -O /dev/null http://db:8080/ && break; sleep 0.1; done
    - echo "by alias $(wget -q -O - http://db:8080/)"
    - echo "by derived name $(wget -q -O - http://pipe.test-busybox:8080/)"
flaky:
  stage: test
  script:
    - exit 3
  after_script:
    - echo "after_script status=$CI_JOB_STATUS"
  allow_failure:
    exit_codes: [3]
release-only:
  stage: test
  script: [echo release]
  rules:
    - if: $CI_COMMIT_BRANCH =~ /^release/
notify:
  stage: report
  script: [echo notify]
  when: on_failure
`
	events, code, stderr := glPipeline(t, e, ci)
	l := readGLLog(events)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%v", code, stderr, l.lines)
	}
	want := map[string]runlog.Status{"compile": runlog.StatusOK, "test[V=a]": runlog.StatusOK, "test[V=b]": runlog.StatusOK,
		"with-service": runlog.StatusOK, "flaky": runlog.StatusFailed, "notify": runlog.StatusSkipped}
	for step, st := range want {
		if l.status[step] != st {
			t.Errorf("%s: status %q, want %q (lines %q)", step, l.status[step], st, l.lines[step])
		}
	}
	if _, ok := l.status["release-only"]; ok {
		t.Errorf("release-only is in the pipeline: its rule does not match")
	}
	for _, s := range []string{"test[V=a]", "test[V=b]", "with-service", "flaky"} {
		if l.started[s] < l.ended["compile"] {
			t.Errorf("%s started before the build stage ended", s)
		}
	}
	for step, line := range map[string]string{
		"test[V=a]":    "matrix V=a of 2",
		"test[V=b]":    "matrix V=b of 2",
		"with-service": "by derived name served",
		"flaky":        "after_script status=failed",
	} {
		if !l.has(step, line) {
			t.Errorf("%s: no line %q in %q", step, line, l.lines[step])
		}
	}
	if !l.has("test[V=a]", "hello from compile on "+currentBranch(t, e)) {
		t.Errorf("test: the build's artifact is not there: %q", l.lines["test[V=a]"])
	}
	if !l.has("with-service", "by alias served") {
		t.Errorf("with-service: %q", l.lines["with-service"])
	}
}

// A failure that is not allowed: after_script still runs, the next stage
// does not, the when: on_failure and when: always jobs do, pipe exits 1.
func TestRunGitLabFailure(t *testing.T) {
	needsRoot(t)
	e := newRunEnv(t, "steps:\n  unused: {run: \"true\"}\n")
	ci := `
image: ` + runTestImage + `
test:
  script:
    - echo testing
    - exit 5
  after_script:
    - echo "cleanup after $CI_JOB_STATUS"
deploy:
  stage: deploy
  script: [echo deploying]
notify:
  stage: .post
  script: [echo "the pipeline failed"]
  when: on_failure
cleanup:
  stage: .post
  script: [echo cleanup ran]
  when: always
`
	events, code, stderr := glPipeline(t, e, ci)
	l := readGLLog(events)
	if code != ExitStepFailed {
		t.Fatalf("exit %d, want %d\n%s", code, ExitStepFailed, stderr)
	}
	want := map[string]runlog.Status{"test": runlog.StatusFailed, "deploy": runlog.StatusSkipped,
		"notify": runlog.StatusOK, "cleanup": runlog.StatusOK}
	for step, st := range want {
		if l.status[step] != st {
			t.Errorf("%s: status %q, want %q", step, l.status[step], st)
		}
	}
	if !l.has("test", "cleanup after failed") || !l.has("notify", "the pipeline failed") {
		t.Errorf("lines: %q", l.lines)
	}
	for _, ev := range events {
		if ev.Type == runlog.EventStepFinished && ev.Step == "test" && ev.ExitCode != 5 {
			t.Errorf("test exit code %d, want the script's 5", ev.ExitCode)
		}
	}
}

// cache: a named volume mounted where GitLab restores the cache, inside
// the project directory, kept from one run to the next; not an output.
func TestRunGitLabCache(t *testing.T) {
	needsRoot(t)
	e := newRunEnv(t, "steps:\n  unused: {run: \"true\"}\n")
	ci := `
image: ` + runTestImage + `
deps:
  stage: build
  cache:
    key: deps-$CI_PROJECT_NAME
    paths: [.deps/]
  script:
    - echo "run" >> .deps/runs
    - echo "runs $(wc -l < .deps/runs)"
    - echo "dir $CI_PROJECT_DIR $(pwd)"
after:
  stage: test
  script:
    - test ! -e .deps/runs
`
	for i, want := range []string{"runs 1", "runs 2"} {
		events, code, stderr := glPipeline(t, e, ci, "--no-cache")
		l := readGLLog(events)
		if code != 0 {
			t.Fatalf("run %d: exit %d\n%s\n%q", i+1, code, stderr, l.lines)
		}
		if !l.has("deps", want) || !l.has("deps", "dir /workspace /workspace") {
			t.Errorf("run %d: no %q in %q", i+1, want, l.lines["deps"])
		}
	}
}

// A service's exposed port is waited for, as GitLab's runner does: the job
// connects at once to a server that starts listening a second late.
func TestRunGitLabServicePortsWaited(t *testing.T) {
	needsRoot(t)
	e := newRunEnv(t, "steps:\n  unused: {run: \"true\"}\n")
	img, err := testimage.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.Config.ExposedPorts = map[string]struct{}{"8080/tcp": {}}
	web, err := mutate.ConfigFile(img, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(web); err != nil {
		t.Fatal(err)
	}
	if out, code := e.pipe(t, "image", "import", dir, "pipe.test/web:1"); code != 0 {
		t.Fatalf("import: %s", out)
	}
	ci := `
image: ` + runTestImage + `
test:
  services:
    - name: pipe.test/web:1
      alias: web
      command: [sh, -c, "sleep 1; echo late > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"]
  script:
    - echo "got $(wget -q -O - http://web:8080/)"
`
	events, code, stderr := glPipeline(t, e, ci)
	l := readGLLog(events)
	if code != 0 || !l.has("test", "got late") {
		t.Fatalf("exit %d\n%s\n%q", code, stderr, l.lines)
	}
}

// needs: replaces the stages: a job that needs only compile sees compile's
// artifacts and not those of the test stage, while a stage-ordered job of
// the same stage sees both; needs: [] starts with nothing; artifacts: false
// orders without the artifacts; dependencies: narrows them.
func TestRunGitLabNeeds(t *testing.T) {
	needsRoot(t)
	e := newRunEnv(t, "steps:\n  unused: {run: \"true\"}\n")
	ci := `
image: ` + runTestImage + `
compile:
  stage: build
  script: [echo bin > bin.txt]
  artifacts: {paths: [bin.txt]}
report:
  stage: test
  script: [echo report > report.txt]
  artifacts: {paths: [report.txt]}
fast-deploy:
  stage: deploy
  needs: [compile]
  script:
    - echo "fast sees $(ls *.txt | tr '\n' ' ')"
staged-deploy:
  stage: deploy
  script:
    - echo "staged sees $(ls *.txt | tr '\n' ' ')"
lint:
  stage: deploy
  needs: []
  script:
    - echo "lint sees $(ls *.txt 2>/dev/null | wc -l) files"
ordered-only:
  stage: deploy
  needs: [{job: compile, artifacts: false}]
  script:
    - echo "ordered-only sees $(ls *.txt 2>/dev/null | wc -l) files"
report-only:
  stage: deploy
  dependencies: [report]
  script:
    - echo "report-only sees $(ls *.txt | tr '\n' ' ')"
`
	events, code, stderr := glPipeline(t, e, ci)
	l := readGLLog(events)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%q", code, stderr, l.lines)
	}
	for step, line := range map[string]string{
		"fast-deploy":   "fast sees bin.txt ",
		"staged-deploy": "staged sees bin.txt report.txt ",
		"lint":          "lint sees 0 files",
		"ordered-only":  "ordered-only sees 0 files",
		"report-only":   "report-only sees report.txt ",
	} {
		if !l.has(step, line) {
			t.Errorf("%s: no line %q in %q", step, line, l.lines[step])
		}
	}
}

// pipe debug JOB on a GitLab file stops where the job failed: the command
// that failed is named by its number in before_script and script.
func TestDebugGitLabJob(t *testing.T) {
	needsRoot(t)
	e := newRunEnv(t, "steps:\n  unused: {run: \"true\"}\n")
	ci := `
image: ` + runTestImage + `
default:
  before_script: [echo setting up]
unit:test:
  script:
    - echo testing
    - exit 3
`
	if err := os.WriteFile(filepath.Join(e.repo, ".gitlab-ci.yml"), []byte(ci), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := e.pipe(t, "debug", "-f", ".gitlab-ci.yml", "unit-test")
	if code != 3 || !strings.Contains(out, "would have opened") || !strings.Contains(out, "'exit 3' exited 3") {
		t.Errorf("exit %d, want 3 and what it would have done\n%s", code, out)
	}
}

func currentBranch(t *testing.T, e *runEnv) string {
	t.Helper()
	return gitLine(t.Context(), e.repo, "rev-parse", "--abbrev-ref", "HEAD")
}
