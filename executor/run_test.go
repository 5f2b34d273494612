package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipe-run/pipe/executor/runlog"
)

// Output layers go along edges only: b (needs a) sees a's file, c (parallel
// to a) does not, d (needs b) sees both; the checkout never changes.
func TestRunOutputLayersFollowEdges(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		_, log := e.mustRun(`
steps:
  a:
    run: echo from-a > a.txt; rm README
  b:
    needs: [a]
    run: cat a.txt > b.txt; test ! -e README
  c:
    run: test ! -e a.txt && test -e README && echo c > c.txt
  d:
    needs: [b]
    run: [cat a.txt b.txt, test ! -e c.txt]
`, nil)
		wantStatuses(t, log, map[string]runlog.Status{"a": runlog.StatusOK, "b": runlog.StatusOK, "c": runlog.StatusOK, "d": runlog.StatusOK})
		if got := strings.Join(log.lines("d"), "|"); !strings.Contains(got, "from-a|from-a") {
			t.Errorf("d's output %q", got)
		}
		if got := dirEntries(t, e.repo); strings.Join(got, " ") != "README src" {
			t.Errorf("the checkout changed: %v", got)
		}
		// Upper, work and snapshot dirs are all removed or committed.
		if got := dirEntries(t, e.store.TempDir()); len(got) != 0 {
			t.Errorf("the run left staging entries in the store: %v", got)
		}
	})
}

func TestRunDependenciesFinishFirst(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		_, log := e.mustRun(`
steps:
  one: {run: sleep 0.1}
  two: {needs: [one], run: "true"}
  three: {needs: [two, one], run: "true"}
`, nil)
		ends, starts := map[string]time.Time{}, map[string]time.Time{}
		for _, ev := range log.all() {
			switch ev.Type {
			case runlog.EventStepStarted:
				starts[ev.Step] = ev.Time
			case runlog.EventStepFinished:
				ends[ev.Step] = ev.Time
			}
		}
		if !starts["two"].After(ends["one"]) || !starts["three"].After(ends["two"]) {
			t.Errorf("order: starts %v ends %v", starts, ends)
		}
	})
}

// Two 0.5 s steps with --jobs 2 overlap: each starts before the other ends.
func TestRunParallelStepsOverlap(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		_, log := e.mustRun("steps:\n  a: {run: sleep 0.5}\n  b: {run: sleep 0.5}\n", func(o *Options) { o.Jobs = 2 })
		s, f := map[string]time.Time{}, map[string]time.Time{}
		for _, ev := range log.all() {
			if ev.Type == runlog.EventStepStarted {
				s[ev.Step] = ev.Time
			}
			if ev.Type == runlog.EventStepFinished {
				f[ev.Step] = ev.Time
			}
		}
		if !s["a"].Before(f["b"]) || !s["b"].Before(f["a"]) {
			t.Errorf("steps did not overlap: started %v finished %v", s, f)
		}
	})
}

func TestRunCacheHitsAndMisses(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		const yml = `
steps:
  build:
    inputs: [src]
    run: [cat src/main.txt > out.txt]
  test:
    needs: [build]
    run: [cat out.txt]
  nocache:
    cache: false
    run: [echo hi]
`
		_, log := e.mustRun(yml, nil)
		wantStatuses(t, log, map[string]runlog.Status{"build": runlog.StatusOK, "test": runlog.StatusOK, "nocache": runlog.StatusOK})
		first := log.finished()["build"]
		started := e.starts()

		sum, log := e.mustRun(yml, nil)
		wantStatuses(t, log, map[string]runlog.Status{"build": runlog.StatusCached, "test": runlog.StatusCached, "nocache": runlog.StatusOK})
		if got := log.finished()["build"]; got.CachedFrom != first.RunID || !got.CacheHit || got.Key != first.Key {
			t.Errorf("hit %+v, want cached from %s", got, first.RunID)
		}
		if n := e.starts() - started; n != 1 {
			t.Errorf("%d containers on a fully cached run, want 1 (the cache: false step)", n)
		}
		if sum.Counts[runlog.StatusCached] != 2 {
			t.Errorf("counts %v", sum.Counts)
		}

		// A file outside build's inputs: build still hits; test (whose inputs
		// are the whole workspace) runs.
		writeFiles(t, e.repo, map[string]string{"README": "changed"})
		_, log = e.mustRun(yml, nil)
		wantStatuses(t, log, map[string]runlog.Status{"build": runlog.StatusCached, "test": runlog.StatusOK, "nocache": runlog.StatusOK})

		// An input changes: build and its dependant run again, and see it.
		writeFiles(t, e.repo, map[string]string{"src/main.txt": "v2"})
		_, log = e.mustRun(yml, nil)
		wantStatuses(t, log, map[string]runlog.Status{"build": runlog.StatusOK, "test": runlog.StatusOK, "nocache": runlog.StatusOK})
		if got := log.lines("test"); len(got) == 0 || got[len(got)-1] != "v2" {
			t.Errorf("test's output %q, want v2 last", got)
		}

		// --no-cache runs everything.
		_, log = e.mustRun(yml, func(o *Options) { o.NoCache = true })
		wantStatuses(t, log, map[string]runlog.Status{"build": runlog.StatusOK, "test": runlog.StatusOK, "nocache": runlog.StatusOK})
	})
}

func TestRunFailFastAndKeepGoing(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		const yml = `
steps:
  bad: {run: [echo about to fail, exit 3]}
  after: {needs: [bad], run: "true"}
  slow: {run: sleep 5}
`
		start := time.Now()
		sum, log := e.mustRun(yml, nil)
		wantStatuses(t, log, map[string]runlog.Status{"bad": runlog.StatusFailed, "after": runlog.StatusSkipped, "slow": runlog.StatusCanceled})
		if time.Since(start) > 4*time.Second {
			t.Errorf("fail fast did not stop the slow step")
		}
		bad := log.finished()["bad"]
		if bad.ExitCode != 3 || !strings.Contains(bad.Error, "command 2 failed with exit code 3: exit 3") {
			t.Errorf("bad: %+v", bad)
		}
		if sum.Status != runlog.StatusFailed || strings.Join(sum.Failed, ",") != "bad" {
			t.Errorf("summary %+v", sum)
		}
		if got := strings.Join(log.lines("bad"), "|"); got != "+ echo about to fail|about to fail|+ exit 3|failed: command 2 failed with exit code 3: exit 3" {
			t.Errorf("bad's log %q", got)
		}

		_, log = e.mustRun(strings.Replace(yml, "sleep 5", "sleep 0.2", 1), func(o *Options) { o.KeepGoing = true })
		wantStatuses(t, log, map[string]runlog.Status{"bad": runlog.StatusFailed, "after": runlog.StatusSkipped, "slow": runlog.StatusOK})
		if r := log.finished()["after"].Reason; r != "needs bad, which failed" {
			t.Errorf("reason %q", r)
		}
	})
}

func TestRunAllowFailure(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		sum, log := e.mustRun(`
steps:
  flaky: {allow_failure: true, run: [echo partial > p.txt, "false"]}
  next: {needs: [flaky], run: test ! -e p.txt}
`, nil)
		wantStatuses(t, log, map[string]runlog.Status{"flaky": runlog.StatusFailed, "next": runlog.StatusOK})
		if sum.Status != runlog.StatusOK || len(sum.Failed) != 0 {
			t.Errorf("summary %+v: an allowed failure failed the pipeline", sum)
		}
	})
}

// Each attempt is a fresh container: the counter lives in a cache volume.
func TestRunRetry(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		_, log := e.mustRun(fmt.Sprintf(`
caches: {count-%s: /count}
steps:
  flaky:
    retry: 2
    caches: [count-%s]
    run: |
      test ! -e mine || exit 9
      echo x > mine
      echo x >> ../count/n
      test $(wc -l < ../count/n) -ge 3
`, e.nonce, e.nonce), nil)
		wantStatuses(t, log, map[string]runlog.Status{"flaky": runlog.StatusOK})
		if a := log.finished()["flaky"].Attempt; a != 3 {
			t.Errorf("attempts %d, want 3", a)
		}
		var attempts []int
		for _, ev := range log.all() {
			if ev.Type == runlog.EventStepStarted {
				attempts = append(attempts, ev.Attempt)
			}
		}
		if fmt.Sprint(attempts) != "[1 2 3]" {
			t.Errorf("started attempts %v", attempts)
		}
	})
}

func TestRunTimeout(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		_, log := e.mustRun("steps:\n  slow: {timeout: 1s, run: sleep 10}\n", nil)
		wantStatuses(t, log, map[string]runlog.Status{"slow": runlog.StatusFailed})
		if got := log.finished()["slow"].Error; got != "timed out after 1s" {
			t.Errorf("error %q", got)
		}
	})
}

func TestRunSecrets(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		const token = "s3cr3t-t0ken-value"
		const yml = `
secrets: [TOKEN]
steps:
  use:
    secrets: [TOKEN]
    run: [echo "token is $TOKEN", "echo $TOKEN | base64", test "$TOKEN" = s3cr3t-t0ken-value]
`
		_, log := e.mustRun(yml, func(o *Options) { o.Secrets = map[string]string{"TOKEN": token} })
		wantStatuses(t, log, map[string]runlog.Status{"use": runlog.StatusOK})
		if txt := log.text(); strings.Contains(txt, token) || strings.Contains(txt, "czNjcjN0LXQwa2VuLXZhbHVl") {
			t.Errorf("secret leaked:\n%s", txt)
		}
		if got := strings.Join(log.lines("use"), "|"); !strings.Contains(got, "token is ***") {
			t.Errorf("log %q", got)
		}
		runs, _ := os.ReadDir(e.store.RunsDir())
		for _, r := range runs {
			filepath.Walk(filepath.Join(e.store.RunsDir(), r.Name()), func(p string, fi os.FileInfo, err error) error {
				if err == nil && !fi.IsDir() {
					if b, _ := os.ReadFile(p); strings.Contains(string(b), token) {
						t.Errorf("secret in run log %s", p)
					}
				}
				return nil
			})
		}

		_, _, err := e.run(context.Background(), yml, nil)
		var missing *MissingSecretError
		if !errors.As(err, &missing) || missing.Names[0] != "TOKEN" || !strings.Contains(err.Error(), "--secret-file") {
			t.Errorf("err %v, want a MissingSecretError naming TOKEN", err)
		}
	})
}

func TestRunWhen(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		const yml = `
steps:
  deploy: {when: {branch: main}, run: echo deploy}
  notify: {needs: [deploy], run: echo notify}
  always: {run: "true"}
`
		_, log := e.mustRun(yml, func(o *Options) { o.Trigger = Trigger{Branch: "dev", Event: "push"} })
		wantStatuses(t, log, map[string]runlog.Status{"deploy": runlog.StatusSkipped, "notify": runlog.StatusSkipped, "always": runlog.StatusOK})
		if r := log.finished()["deploy"].Reason; !strings.Contains(r, `branch "dev"`) {
			t.Errorf("reason %q", r)
		}
		_, log = e.mustRun(yml, func(o *Options) { o.Trigger = Trigger{Branch: "main", Event: "push"} })
		wantStatuses(t, log, map[string]runlog.Status{"deploy": runlog.StatusOK, "notify": runlog.StatusOK, "always": runlog.StatusCached})
	})
}

func TestRunTargetsAndMatrix(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		_, log := e.mustRun(`
steps:
  gen: {run: echo gen > g}
  test:
    needs: [gen]
    matrix: {v: ["1", "2"]}
    env: {V: "${matrix.v}"}
    run: [cat g, echo "v=$V"]
  other: {run: "true"}
`, func(o *Options) { o.Targets = []string{"test"} })
		wantStatuses(t, log, map[string]runlog.Status{"gen": runlog.StatusOK, "test[v=1]": runlog.StatusOK, "test[v=2]": runlog.StatusOK})
		if got := strings.Join(log.lines("test[v=2]"), "|"); !strings.Contains(got, "v=2") {
			t.Errorf("log %q", got)
		}
	})
}

func TestRunEnvOverride(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		_, log := e.mustRun("env: {A: file, B: file}\nsteps:\n  s: {run: echo \"$A $B\"}\n",
			func(o *Options) { o.Env = append(o.Env, "B=flag") })
		if got := log.lines("s"); len(got) == 0 || got[len(got)-1] != "file flag" {
			t.Errorf("log %q", got)
		}
	})
}

func TestRunOutputsFilter(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		_, log := e.mustRun(`
steps:
  build: {outputs: ["dist/**"], run: mkdir -p dist/x && echo 1 > dist/x/a && echo junk > junk}
  use: {needs: [build], run: test -e dist/x/a && test ! -e junk}
`, nil)
		wantStatuses(t, log, map[string]runlog.Status{"build": runlog.StatusOK, "use": runlog.StatusOK})
	})
}

func TestRunCancel(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		start := time.Now()
		cancelOnStart := sinkFunc(func(ev runlog.Event) {
			if ev.Type == runlog.EventStepStarted {
				start = time.Now()
				time.AfterFunc(100*time.Millisecond, cancel)
			}
		})
		sum, log, err := e.run(ctx, "steps:\n  long: {run: sleep 100}\n  after: {needs: [long], run: \"true\"}\n",
			func(o *Options) { o.Sink = runlog.NewTeeSink(o.Sink, cancelOnStart) })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
		wantStatuses(t, log, map[string]runlog.Status{"long": runlog.StatusCanceled, "after": runlog.StatusCanceled})
		if sum == nil || sum.Status != runlog.StatusCanceled {
			t.Errorf("summary %+v", sum)
		}
		if e.fake != nil {
			if left := dirEntries(t, e.fake.dir); len(left) != 0 {
				t.Errorf("containers left: %v", left)
			}
		}
	})
}

// Two steps that mount one shared cache volume each wait for the other's
// marker file in it (../meet from /workspace, so that the fake runtime maps
// it too): they can only both finish if they ran together. With
// sharing: locked the second step would wait for the first, which never
// sees its marker and fails.
func TestRunSharedCacheVolumeStepsMeet(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		vol := "meet-" + e.nonce
		wait := func(me, other string) string {
			return fmt.Sprintf(`{run: "touch ../meet/%[1]s; i=0; while [ ! -e ../meet/%[2]s ]; do sleep 0.05; i=$((i+1)); [ $i -lt 200 ] || exit 1; done", caches: [%[3]s], timeout: 30s}`, me, other, vol)
		}
		yml := fmt.Sprintf("caches:\n  %s: {path: /meet, sharing: shared}\nsteps:\n  a: %s\n  b: %s\n", vol, wait("a", "b"), wait("b", "a"))
		_, log := e.mustRun(yml, func(o *Options) { o.Jobs = 2; o.NoCache = true })
		wantStatuses(t, log, map[string]runlog.Status{"a": runlog.StatusOK, "b": runlog.StatusOK})
	})
}
