package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/internal/testregistry"
)

// sharedPipe is a pipeline whose results and volume two machines share.
const sharedPipe = `caches: {deps: /deps}
steps:
  deps:
    caches: [deps]
    cache: false
    run: ["cat /deps/seen 2>/dev/null || echo first", "echo deps-volume > /deps/seen"]
  build:
    inputs: [src]
    run: [mkdir -p out, "cat src/*.txt > out/app", "ln -s app out/link", chmod 751 out/app]
  test:
    needs: [build]
    run: ["cat out/app > report.txt"]
`

// runJSON runs pipe with env added and returns its events and its output.
func (e *runEnv) runJSON(t *testing.T, env []string, args ...string) ([]runlog.Event, string) {
	t.Helper()
	cmd := e.command(append([]string{"run", "--json"}, args...)...)
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("pipe run %v: exit %d\n%s", args, code, stderr.String())
	}
	var evs []runlog.Event
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var ev runlog.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not an event: %q", line)
		}
		evs = append(evs, ev)
	}
	return evs, stderr.String()
}

func TestRunSharesTheCacheBetweenTwoStores(t *testing.T) {
	needsRoot(t)
	reg := testregistry.Start(t, testregistry.Options{TLS: true, Users: map[string]string{"ci": "ci-pass"}})
	repo := reg.Host + "/team/pipe-cache"
	env := []string{"SSL_CERT_FILE=" + reg.CAFile, "DOCKER_CONFIG=" + reg.DockerConfig("ci", "ci-pass")}
	a := newRunEnv(t, sharedPipe)
	writeTestFiles(t, a.repo, map[string]string{"src/a.txt": "alpha\n", "src/b.txt": "beta\n"})
	evA, outA := a.runJSON(t, env, "--cache-from", repo, "--cache-to", repo)
	if !strings.Contains(outA, "pushed 2 step result(s)") || !strings.Contains(outA, "pushed cache volume deps") {
		t.Errorf("run on store A did not push:\n%s", outA)
	}

	// Machine B: a fresh store, the same checkout, the cache set once for the CI.
	b := newRunEnv(t, sharedPipe)
	b.repo = a.repo
	evB, outB := b.runJSON(t, append(env, "PIPE_CACHE_FROM="+repo))
	for _, step := range []string{"build", "test"} {
		f := finishedEvent(evB, step)
		if f.Status != runlog.StatusCached || f.Remote != repo {
			t.Errorf("store B: step %s %s (remote %q), want cached from %s\n%s", step, f.Status, f.Remote, repo, outB)
		}
		if !strings.Contains(outB, "cached (remote "+repo+")") {
			t.Errorf("store B's log does not say cached (remote %s):\n%s", repo, outB)
		}
		key := finishedEvent(evA, step).Key
		ta := treeDump(t, filepath.Join(a.home, "results", key, "fs"))
		tb := treeDump(t, filepath.Join(b.home, "results", key, "fs"))
		if ta != tb {
			t.Errorf("step %s: store B's output differs from A's:\n%s\nvs\n%s", step, tb, ta)
		}
	}
	if !strings.Contains(outB, "deps-volume") || strings.Contains(outB, "pushed") {
		t.Errorf("store B did not see A's cache volume, or pushed without --cache-to:\n%s", outB)
	}
}

func finishedEvent(evs []runlog.Event, step string) runlog.Event {
	for _, e := range evs {
		if e.Type == runlog.EventStepFinished && e.Step == step {
			return e
		}
	}
	return runlog.Event{}
}

// treeDump lists a tree byte for byte: paths, modes, link targets, contents.
func treeDump(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b.WriteString(rel + " " + fi.Mode().String())
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			b.WriteString(" -> " + l)
		case fi.Mode().IsRegular():
			body, _ := os.ReadFile(p)
			b.WriteString(" " + string(body))
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func writeTestFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, body := range files {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
