package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runGitLabCI uses what a translated .gitlab-ci.yml does at run time:
// stages in order, artifacts along them, variables at two levels, a failing
// job whose after_script still runs, allow_failure, and when: on_failure.
const runGitLabCI = `image: ` + runTestImage + `
stages: [build, test, report]
variables:
  LEVEL: global
build:
  stage: build
  variables:
    JOB: build
  script:
    - echo "build $LEVEL $JOB $CI_JOB_NAME"
    - mkdir -p dist && echo artifact > dist/out.txt
  artifacts:
    paths: [dist/]
test:
  stage: test
  script:
    - echo "got $(cat dist/out.txt)"
    - exit 3
  after_script:
    - echo "after_script ran"
flaky:
  stage: test
  allow_failure: true
  script: [exit 1]
notify:
  stage: report
  when: on_failure
  script: [echo "notify after failure"]
`

func TestRunGitLabCI(t *testing.T) {
	needsRoot(t)
	e := newRunEnv(t, "steps:\n  unused: {run: 'true'}\n")
	if err := os.WriteFile(filepath.Join(e.repo, ".gitlab-ci.yml"), []byte(runGitLabCI), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := e.pipe(t, "run", "-f", ".gitlab-ci.yml")
	if code != ExitStepFailed {
		t.Fatalf("exit %d, want %d (test fails)\n%s", code, ExitStepFailed, out)
	}
	for _, want := range []string{"build global build build", "got artifact", "after_script ran", "notify after failure"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the output", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}
