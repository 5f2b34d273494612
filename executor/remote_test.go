package executor

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/internal/jsonschema"
	"github.com/pipe-run/pipe/internal/testregistry"
)

// newTestRegistry is go-containerregistry's registry on loopback.
func newTestRegistry(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// shared returns the shared cache of store reading from and writing to repos.
func shared(t testing.TB, store *cache.Store, from []string, to string) *cache.Shared {
	t.Helper()
	sh := &cache.Shared{Store: store}
	open := func(repo string) *cache.Remote {
		rem, err := cache.OpenRemote(repo, cache.RemoteOptions{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return rem
	}
	for _, r := range from {
		sh.From = append(sh.From, open(r))
	}
	if to != "" {
		sh.To = open(to)
	}
	return sh
}

// freshEnv is a testEnv on a store of its own (holding the test image), in
// the same repo as e and with the same nonce: a second machine.
func (e *testEnv) freshEnv(t *testing.T) *testEnv {
	t.Helper()
	dir := t.TempDir()
	s, err := cache.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	if err := importBusybox(s, dir); err != nil {
		t.Fatal(err)
	}
	f := *e
	f.store = s
	if e.fake != nil {
		f.fake = newFakeRuntime(t.TempDir())
		f.rt = &countingRuntime{Runtime: f.fake}
	} else {
		f.rt = &countingRuntime{Runtime: e.rt.(*countingRuntime).Runtime}
	}
	return &f
}

// remoteOps lists the remote events as "op step" lines.
func remoteOps(l *eventLog) []string {
	var out []string
	for _, e := range l.all() {
		if e.Type == runlog.EventRemote {
			out = append(out, e.RemoteOp+" "+e.Step)
		}
	}
	return out
}

func hasOp(ops []string, want string) bool {
	for _, o := range ops {
		if o == want {
			return true
		}
	}
	return false
}

const sharedPipeline = `
secrets: [TOKEN]
steps:
  build:
    inputs: [src]
    run: [mkdir -p out, cat src/main.txt > out/bin, echo built > out/note]
  test:
    needs: [build]
    run: [cat out/bin > tested.txt]
  secret:
    secrets: [TOKEN]
    run: [echo used > secret.txt]
  online:
    network: host
    run: [echo fetched > online.txt]
`

func TestRunSharesResultsThroughARegistry(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, a *testEnv) {
		repo := newTestRegistry(t) + "/team/cache"
		secrets := func(o *Options) { o.Secrets = map[string]string{"TOKEN": "a-long-secret-value"} }
		_, logA := a.mustRun(sharedPipeline, func(o *Options) {
			secrets(o)
			o.Remote = shared(t, a.store, []string{repo}, repo)
		})
		wantStatuses(t, logA, map[string]runlog.Status{"build": runlog.StatusOK, "test": runlog.StatusOK, "secret": runlog.StatusOK, "online": runlog.StatusOK})
		opsA := remoteOps(logA)
		for _, want := range []string{"miss build", "push build", "push test"} {
			if !hasOp(opsA, want) {
				t.Errorf("store A: no %q event in %v", want, opsA)
			}
		}
		if hasOp(opsA, "push secret") || hasOp(opsA, "push online") {
			t.Errorf("store A pushed a step given secrets or the host's network: %v", opsA)
		}

		b := a.freshEnv(t)
		_, logB := b.mustRun(sharedPipeline, func(o *Options) {
			secrets(o)
			o.Remote = shared(t, b.store, []string{repo}, "")
		})
		wantStatuses(t, logB, map[string]runlog.Status{"build": runlog.StatusCached, "test": runlog.StatusCached, "secret": runlog.StatusOK, "online": runlog.StatusOK})
		if got := logB.finished()["build"]; got.Remote != repo || got.CachedFrom != logA.finished()["build"].RunID {
			t.Errorf("build on store B: remote %q cached from %q", got.Remote, got.CachedFrom)
		}
		validateRemoteEvents(t, logA)
		validateRemoteEvents(t, logB)
		if n := b.starts(); n != 2 {
			t.Errorf("store B started %d containers, want 2 (secret, online)", n)
		}
		for _, step := range []string{"build", "test"} {
			key := logA.finished()[step].Key
			ra, errA := a.store.Result(key)
			rb, errB := b.store.Result(key)
			if errA != nil || errB != nil {
				t.Fatalf("%s: %v %v", step, errA, errB)
			}
			if ta, tb := treeText(t, ra.Dir), treeText(t, rb.Dir); ta != tb {
				t.Errorf("%s: store B's output differs:\n%s\nvs\n%s", step, tb, ta)
			}
		}

		// With the opt-in, a step given secrets is pushed too.
		_, logC := a.mustRun(sharedPipeline, func(o *Options) {
			secrets(o)
			o.Remote = shared(t, a.store, []string{repo}, repo)
			o.RemotePushSecrets = true
		})
		if ops := remoteOps(logC); !hasOp(ops, "push secret") || hasOp(ops, "push online") {
			t.Errorf("with RemotePushSecrets: %v", ops)
		}
	})
}

// treeText lists a tree's paths, modes and contents.
func treeText(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		b.WriteString(rel + " " + fi.Mode().String())
		if fi.Mode().IsRegular() {
			body, _ := os.ReadFile(p)
			b.WriteString(" " + string(body))
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}

func TestRunGoesOnWhenTheRegistryIsDead(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := closed.Addr().String()
	closed.Close()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for name, host := range map[string]string{"refused": dead, "silent": silent.Addr().String()} {
		t.Run(name, func(t *testing.T) {
			e := newFakeEnv(t)
			repo := host + "/team/cache"
			start := time.Now()
			sum, log := e.mustRun(sharedPipeline, func(o *Options) {
				o.Secrets = map[string]string{"TOKEN": "a-long-secret-value"}
				o.Remote = shared(t, e.store, []string{repo}, repo)
			})
			took := time.Since(start)
			if sum.Status != runlog.StatusOK {
				t.Errorf("status %s", sum.Status)
			}
			var warnings []string
			for _, ev := range log.all() {
				if ev.Type == runlog.EventStepLog && ev.Step == "" && strings.Contains(ev.Line, "warning: remote cache") {
					warnings = append(warnings, ev.Line)
				}
			}
			if len(warnings) != 1 || !strings.Contains(warnings[0], repo) {
				t.Errorf("warnings %q, want one about %s", warnings, repo)
			}
			if !strings.Contains(log.text(), "dropped 2 push(es)") {
				t.Errorf("the run did not say what it dropped:\n%s", log.text())
			}
			if took > 30*time.Second { // generous: the remote's timeout is 1 s
				t.Errorf("the dead registry cost %s", took)
			}
		})
	}
}

func TestRunSharesCacheVolumesThroughARegistry(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, a *testEnv) {
		repo := newTestRegistry(t) + "/team/cache"
		vol := "deps-" + a.nonce
		yml := fmt.Sprintf(`
caches: {%[1]s: /deps}
secrets: [TOKEN]
steps:
  fill:
    caches: [%[1]s]
    cache: false
    run: [mkdir -p ../deps/pkg/a, "test -e ../deps/pkg/a/lib && cat ../deps/pkg/a/lib || echo none", "echo lib-$PIPE_TEST_NONCE > ../deps/pkg/a/lib"]
`, vol)
		_, logA := a.mustRun(yml, func(o *Options) { o.Remote = shared(t, a.store, []string{repo}, repo) })
		if got := strings.Join(logA.lines("fill"), "|"); !strings.Contains(got, "none") {
			t.Fatalf("store A saw a volume before anything was pushed: %s", got)
		}
		if !hasOp(remoteOps(logA), "volume_push ") {
			t.Fatalf("store A did not push the volume: %v\n%s", remoteOps(logA), logA.text())
		}
		b := a.freshEnv(t)
		_, logB := b.mustRun(yml, func(o *Options) { o.Remote = shared(t, b.store, []string{repo}, "") })
		if got := strings.Join(logB.lines("fill"), "|"); !strings.Contains(got, "lib-"+a.nonce) || !strings.Contains(got, "restored") {
			t.Errorf("store B did not see A's volume: %s\n%s", got, logB.text())
		}
		validateRemoteEvents(t, logA)
		validateRemoteEvents(t, logB)
		if hasOp(remoteOps(logB), "volume_push ") {
			t.Errorf("a read-only run pushed: %v", remoteOps(logB))
		}

		// A step given secrets mounts the volume: it stays local.
		secretYml := strings.Replace(yml, "    cache: false\n", "    cache: false\n    secrets: [TOKEN]\n", 1)
		secretYml = strings.Replace(secretYml, "lib-$PIPE_TEST_NONCE", "secret-$PIPE_TEST_NONCE", 1)
		_, logC := a.mustRun(secretYml, func(o *Options) {
			o.Secrets = map[string]string{"TOKEN": "a-long-secret-value"}
			o.Remote = shared(t, a.store, []string{repo}, repo)
		})
		if hasOp(remoteOps(logC), "volume_push ") || !strings.Contains(logC.text(), "not pushed: steps given secrets") {
			t.Errorf("a volume mounted by a step given secrets was pushed: %v", remoteOps(logC))
		}
	})
}

// validateRemoteEvents checks the remote and step_finished events of a run
// against the published event schema (runlog/testdata/event.schema.json).
func validateRemoteEvents(t *testing.T, l *eventLog) {
	t.Helper()
	b, err := os.ReadFile("runlog/testdata/event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	s, err := jsonschema.Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range l.all() {
		if e.Type != runlog.EventRemote && e.Type != runlog.EventStepFinished {
			continue
		}
		b, err := e.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		for _, err := range s.ValidateLines("event", string(b)) {
			t.Error(err)
		}
		n++
	}
	if n == 0 {
		t.Error("no events to validate")
	}
}

func TestRunGoesOnWhenTheRegistryDiesMidRun(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{Proxy: true})
	e := newFakeEnv(t)
	repo := reg.Host + "/team/cache"
	killed := false
	sum, log := e.mustRun(sharedPipeline, func(o *Options) {
		o.Secrets = map[string]string{"TOKEN": "a-long-secret-value"}
		o.Remote = shared(t, e.store, []string{repo}, repo)
		o.Sink = runlog.NewTeeSink(o.Sink, sinkFunc(func(ev runlog.Event) {
			if ev.Type == runlog.EventStepFinished && ev.Step == "build" && !killed {
				killed = true
				reg.Kill() // after build's lookup, before the pushes end
			}
		}))
	})
	if sum.Status != runlog.StatusOK || !killed {
		t.Fatalf("status %s (registry killed: %v)", sum.Status, killed)
	}
	if n := strings.Count(log.text(), "warning: remote cache"); n > 1 {
		t.Errorf("%d warnings about the dead registry, want at most one:\n%s", n, log.text())
	}
}
