package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/pipe-run/pipe/internal/testimage"
)

// runWorkflow is a GitHub Actions workflow that uses what a translated
// workflow does at run time: needs, a matrix, env at every level,
// $GITHUB_ENV and $GITHUB_OUTPUT between steps, continue-on-error, step
// if: failure() and always(), artifacts along needs, job outputs, and a
// service by its key with a readiness check from --health-cmd.
const runWorkflow = `name: CI
on: push
env:
  LEVEL: workflow
  OVER: workflow
jobs:
  build:
    runs-on: ubuntu-latest
    env:
      OVER: job
    outputs:
      ver: ${{ steps.v.outputs.version }}
    steps:
      - uses: actions/checkout@v4
      - id: v
        run: |
          echo "version=1.2" >> "$GITHUB_OUTPUT"
          echo "FROM_ENV=hello there" >> "$GITHUB_ENV"
          printf 'MULTI<<EOF\nline one\nline two\nEOF\n' >> "$GITHUB_ENV"
          mkdir -p /tmp/tools && printf '#!/bin/sh\necho tool ran\n' > /tmp/tools/mytool && chmod +x /tmp/tools/mytool
          echo /tmp/tools >> "$GITHUB_PATH"
      - run: |
          echo "levels=$LEVEL/$OVER/$STEP env=$FROM_ENV out=${{ steps.v.outputs.version }} ctx=${{ env.FROM_ENV }}"
          echo "multi=$(echo "$MULTI" | tr '\n' '+')"
          mytool
          echo built > out.txt
        env:
          STEP: step
      - run: exit 3
        continue-on-error: true
      - uses: actions/upload-artifact@v4
        with:
          name: bin
          path: out.txt
  test:
    needs: build
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2]
    services:
      web:
        image: pipe.test/busybox:httpd
        options: --health-cmd "wget -q -O /dev/null http://127.0.0.1:8080/etc/passwd" --health-interval 1s --health-retries 30
    steps:
      - uses: actions/download-artifact@v4
        with:
          name: bin
          path: got
      - run: echo "n=${{ matrix.n }} ver=${{ needs.build.outputs.ver }} art=$(cat got/out.txt)"
      - run: wget -q -O- http://web:8080/etc/passwd | head -n 1
      - run: test ${{ matrix.n }} = 1
      - if: failure()
        run: echo "cleanup n=${{ matrix.n }}"
      - if: always()
        run: echo "always n=${{ matrix.n }}"
      - run: echo "skipped n=${{ matrix.n }}"
`

// TestRunGitHubWorkflow runs a translated workflow in real containers.
func TestRunGitHubWorkflow(t *testing.T) {
	needsRoot(t)
	e := newRunEnv(t, "steps:\n  unused: {run: 'true'}\n")
	importHTTPImage(t, e)
	wf := filepath.Join(e.repo, ".github", "workflows")
	if err := os.MkdirAll(wf, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wf, "ci.yml"), []byte(runWorkflow), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := e.pipe(t, "run", "-f", ".github/workflows/ci.yml", "--platform", "ubuntu-latest="+runTestImage, "--keep-going")
	if code != ExitStepFailed {
		t.Fatalf("exit %d, want %d (test-2 fails)\n%s", code, ExitStepFailed, out)
	}
	for _, want := range []string{
		"levels=workflow/job/step env=hello there out=1.2 ctx=hello there",
		"multi=line one+line two+",
		"tool ran",
		`pipe: step "Run exit 3" failed with exit code 3`,
		"pipe: continue-on-error: the job goes on",
		"n=1 ver=1.2 art=built",
		"n=2 ver=1.2 art=built",
		"root:x:0:0:root:/root:/bin/sh",
		"cleanup n=2", "always n=1", "always n=2", "skipped n=1", "pipe: skipped: an earlier step failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the output", want)
		}
	}
	for _, not := range []string{"| cleanup n=1", "| skipped n=2"} { // output lines, not the "+ # Run ..." ones
		if strings.Contains(out, not) {
			t.Errorf("%q in the output: the step should not have run", not)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
	// the job that needs the failed one is not run, the others are: their
	// order is the needs order
	if i, j := strings.Index(out, "art=built"), strings.Index(out, "levels="); i < j {
		t.Errorf("test ran before build")
	}
}

// importHTTPImage stores pipe.test/busybox:httpd: busybox whose command
// serves its root on port 8080.
func importHTTPImage(t *testing.T, e *runEnv) {
	t.Helper()
	img, err := testimage.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg := cf.Config
	cfg.Cmd = []string{"httpd", "-f", "-p", "8080", "-h", "/"}
	if img, err = mutate.Config(img, cfg); err != nil {
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
	if out, code := e.pipe(t, "image", "import", dir, "pipe.test/busybox:httpd"); code != 0 {
		t.Fatalf("import: %s", out)
	}
}

// statusWorkflow has jobs whose if: runs them after a failure of a job
// they need (failure(), always()), and one that the failure skips.
const statusWorkflow = `on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo building; exit 2
  report:
    needs: build
    if: failure()
    runs-on: ubuntu-latest
    steps:
      - run: echo "report after failure"
  cleanup:
    needs: [build]
    if: always()
    runs-on: ubuntu-latest
    steps:
      - run: echo "cleanup always"
  deploy:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - run: echo "deploy never"
  release:
    if: github.ref == 'refs/heads/main' && github.event_name == 'push'
    runs-on: ubuntu-latest
    steps:
      - run: echo "release on main only"
`

func TestRunGitHubJobStatus(t *testing.T) {
	needsRoot(t)
	e := newRunEnv(t, "steps:\n  unused: {run: 'true'}\n")
	wf := filepath.Join(e.repo, ".github", "workflows")
	if err := os.MkdirAll(wf, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wf, "status.yml"), []byte(statusWorkflow), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := e.pipe(t, "run", "-f", ".github/workflows/status.yml", "--platform", "ubuntu-latest="+runTestImage)
	if code != ExitStepFailed {
		t.Fatalf("exit %d, want %d\n%s", code, ExitStepFailed, out)
	}
	for _, want := range []string{"report after failure", "cleanup always",
		"reproduce with: pipe debug -f .github/workflows/status.yml --platform ubuntu-latest=" + runTestImage + " build"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the output:\n%s", want, out)
		}
	}
	if strings.Contains(out, "| deploy never") {
		t.Errorf("deploy ran after build failed:\n%s", out)
	}
	// not a push to main (no git here, pipe's event is manual): when: skips it
	if strings.Contains(out, "| release on main only") || !strings.Contains(out, "release") {
		t.Errorf("release is not skipped by its when:\n%s", out)
	}
}

// cacheWorkflow uses actions/cache and a local composite action.
const cacheWorkflow = `on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - id: cache
        uses: actions/cache@v4
        with:
          path: ~/.thing
          key: thing-${{ hashFiles('lock.txt') }}
          restore-keys: thing-
      - run: echo "hit=${{ steps.cache.outputs.cache-hit }} have=$(cat ~/.thing/v 2>/dev/null)"
      - run: mkdir -p ~/.thing && echo cached-value > ~/.thing/v
      - id: greet
        uses: ./.github/actions/greet
        with:
          who: pipe
      - run: echo "said=${{ steps.greet.outputs.greeting }}"
`

const greetAction = `name: greet
inputs:
  who: {default: world}
  loud: {default: "no"}
outputs:
  greeting:
    value: ${{ steps.say.outputs.text }}
runs:
  using: composite
  steps:
    - id: say
      shell: sh
      run: echo "text=hello ${{ inputs.who }}" >> "$GITHUB_OUTPUT"
    - if: inputs.loud == 'yes'
      shell: sh
      run: echo LOUD
`

// actions/cache restores what a job that succeeded saved under its key; a
// local composite action runs with its inputs and gives its outputs.
func TestRunGitHubCacheAndComposite(t *testing.T) {
	needsRoot(t)
	e := newRunEnv(t, "steps:\n  unused: {run: 'true'}\n")
	for name, body := range map[string]string{
		".github/workflows/cache.yml":      cacheWorkflow,
		".github/actions/greet/action.yml": greetAction,
		"lock.txt":                         "v1\n",
	} {
		p := filepath.Join(e.repo, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := []string{"run", "--no-cache", "-f", ".github/workflows/cache.yml", "--platform", "ubuntu-latest=" + runTestImage}
	out, code := e.pipe(t, args...)
	if code != 0 || !strings.Contains(out, "hit=false have=\n") || !strings.Contains(out, "pipe: actions/cache: saved thing-") ||
		!strings.Contains(out, "said=hello pipe") || strings.Contains(out, "| LOUD") || !strings.Contains(out, "pipe: skipped: its if: is false") {
		t.Fatalf("first run: exit %d\n%s", code, out)
	}
	out, code = e.pipe(t, args...)
	if code != 0 || !strings.Contains(out, "hit=true have=cached-value") || strings.Contains(out, "actions/cache: saved") {
		t.Fatalf("second run: exit %d\n%s", code, out)
	}
	// another key restores the newest entry of a restore-keys prefix
	os.WriteFile(filepath.Join(e.repo, "lock.txt"), []byte("v2\n"), 0o644)
	out, code = e.pipe(t, args...)
	if code != 0 || !strings.Contains(out, "hit=false have=cached-value") || !strings.Contains(out, "actions/cache: saved") {
		t.Fatalf("third run: exit %d\n%s", code, out)
	}
}
