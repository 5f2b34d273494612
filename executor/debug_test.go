package executor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/kept"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/pipeline"
)

const debugYML = `secrets: [TOKEN]
steps:
  dep: {run: echo dep > dep.txt}
  build:
    needs: [dep]
    secrets: [TOKEN]
    retry: 2
    run:
      - echo one > out.txt
      - exit 3
  ok: {run: echo fine}
`

// debug runs Debug without a terminal and returns its code and the shells
// it would have opened.
func (e *testEnv) debug(step string, mod func(*DebugOptions)) (int, []DebugShell, *eventLog, error) {
	e.t.Helper()
	log := &eventLog{}
	var mu sync.Mutex
	var shells []DebugShell
	o := DebugOptions{Options: Options{Runtime: e.rt, Store: e.store, Sink: log, Repo: e.repo, Jobs: 2, Pull: cache.PullNever,
		Env: []string{"PIPE_TEST_NONCE=" + e.nonce}, Secrets: map[string]string{"TOKEN": "tok-value-123"}},
		OnShell: func(sh DebugShell) { mu.Lock(); shells = append(shells, sh); mu.Unlock() }}
	if mod != nil {
		mod(&o)
	}
	code, err := Debug(context.Background(), parse(e.t, debugYML), step, o)
	return code, shells, log, err
}

func TestDebugFailedStepWithoutTerminal(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		if e.fake == nil {
			needsRoot(t)
		}
		code, shells, log, err := e.debug("build", nil)
		if err != nil || code != 3 {
			t.Fatalf("Debug: code %d, err %v\n%s", code, err, log.text())
		}
		if len(shells) != 1 || shells[0].Status != "'exit 3' exited 3" || shells[0].Dir != pipeline.Workspace || len(shells[0].Args) == 0 {
			t.Fatalf("shells %+v", shells)
		}
		wantStatuses(t, log, map[string]runlog.Status{"dep": runlog.StatusOK, "build": runlog.StatusFailed})
		if ev := log.finished()["build"]; ev.Attempt != 1 {
			t.Errorf("the debugged step was retried: %+v", ev)
		}
	})
}

func TestDebugSucceededStep(t *testing.T) {
	e := newFakeEnv(t)
	code, shells, _, err := e.debug("ok", nil)
	if err != nil || code != 0 || len(shells) != 0 {
		t.Fatalf("without --always: code %d, err %v, shells %+v", code, err, shells)
	}
	code, shells, _, err = e.debug("ok", func(o *DebugOptions) { o.Always = true })
	if err != nil || code != 0 || len(shells) != 1 || shells[0].Status != "succeeded" {
		t.Fatalf("--always: code %d, err %v, shells %+v", code, err, shells)
	}
}

func TestDebugStops(t *testing.T) {
	e := newFakeEnv(t)
	_, shells, _, err := e.debug("build", func(o *DebugOptions) { o.Before = true })
	if err != nil || len(shells) != 1 || shells[0].Script != ScriptPath || !strings.Contains(shells[0].Status, "before its script") {
		t.Fatalf("--before: err %v, shells %+v", err, shells)
	}
	_, shells, _, err = e.debug("build", func(o *DebugOptions) { o.Break = `^exit` })
	if err != nil || len(shells) != 1 || !strings.Contains(shells[0].Status, "before command 2 'exit 3'") {
		t.Fatalf("--break: err %v, shells %+v", err, shells)
	}
}

func TestDebugRequestErrors(t *testing.T) {
	e := newFakeEnv(t)
	for _, tc := range []struct {
		step string
		mod  func(*DebugOptions)
		want string
	}{
		{"biuld", nil, "build"},
		{"build", func(o *DebugOptions) { o.At = 3 }, "--at 3: it has commands 1 to 2"},
		{"build", func(o *DebugOptions) { o.Break = "nothing" }, "matches none"},
		{"build", func(o *DebugOptions) { o.Break = "(" }, "--break"},
		{"build", func(o *DebugOptions) { o.Last = true }, "pipe run --keep-failed"},
	} {
		_, _, _, err := e.debug(tc.step, tc.mod)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", tc.step, err, tc.want)
		}
	}
	p := parse(t, "steps:\n  s: {run: 'echo a; exit 1'}\n")
	if _, err := stopBefore(p.Graph.Step("s"), DebugOptions{At: 1}); err == nil || !strings.Contains(err.Error(), "--before") {
		t.Errorf("--at on a script: %v", err)
	}
}

func TestDebugDependencyFailed(t *testing.T) {
	e := newFakeEnv(t)
	log := &eventLog{}
	p := parse(t, "steps:\n  a: {run: exit 1}\n  b: {needs: [a], run: echo b}\n")
	_, err := Debug(context.Background(), p, "b", DebugOptions{Options: Options{Runtime: e.rt, Store: e.store, Sink: log, Repo: e.repo, Pull: cache.PullNever}})
	var nr *NotRunError
	if !errors.As(err, &nr) || !strings.Contains(err.Error(), "pipe debug a") {
		t.Fatalf("err %v, want a NotRunError naming a", err)
	}
}

func TestDebugUserScript(t *testing.T) {
	p := parse(t, "steps:\n  s: {run: [echo a, echo b, echo c]}\n")
	got := userScript(p.Graph.Step("s"), 2)
	if !strings.Contains(got, "set -e\necho b\necho c\n") || strings.Contains(got, "echo a") || strings.Contains(got, "::pipe") {
		t.Errorf("script:\n%s", got)
	}
}

// A failed step's state is kept without its secret, reopened, and exported.
func TestDebugKeepFailedLastAndExport(t *testing.T) {
	needsRoot(t)
	e := newRealEnv(t)
	e.store = openTempStore(t)
	sum, log := e.mustRun(debugYML, func(o *Options) {
		o.KeepFailed, o.Targets, o.Secrets, o.Store = true, []string{"build"}, map[string]string{"TOKEN": "tok-value-123"}, e.store
	})
	if sum.Status != runlog.StatusFailed {
		t.Fatalf("status %s\n%s", sum.Status, log.text())
	}
	recs, err := kept.List(e.store)
	if err != nil || len(recs) != 1 || recs[0].Step != "build" || recs[0].Command != 2 || recs[0].ExitCode != 3 {
		t.Fatalf("kept: %v %+v", err, recs)
	}
	b, _ := os.ReadFile(filepath.Join(recs[0].Path(), "record.json"))
	if strings.Contains(string(b), "tok-value-123") || !strings.Contains(string(b), `"TOKEN"`) {
		t.Errorf("record.json:\n%s", b)
	}
	if got, _ := os.ReadFile(filepath.Join(recs[0].Path(), "ws", "out.txt")); string(got) != "one\n" {
		t.Errorf("kept workspace upper: out.txt %q", got)
	}
	code, shells, _, err := e.debug("", func(o *DebugOptions) { o.Last, o.Store = true, e.store })
	if err != nil || code != 3 || len(shells) != 1 || !strings.Contains(shells[0].Status, "kept from run") {
		t.Fatalf("--last: code %d, err %v, shells %+v", code, err, shells)
	}
	out := filepath.Join(t.TempDir(), "x.tar")
	if _, _, _, err := e.debug("build", func(o *DebugOptions) { o.Export, o.Store, o.Runtime = out, e.store, nil }); err != nil {
		t.Fatalf("--export: %v", err)
	}
	img, err := tarball.ImageFromPath(out, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cf, err := img.ConfigFile(); err != nil || cf.Config.WorkingDir != pipeline.Workspace || strings.Contains(strings.Join(cf.Config.Env, " "), "tok-value") {
		t.Errorf("config: %v %+v", err, cf)
	}
	if _, err := e.store.Import(context.Background(), out, "pipe.test/kept:1"); err != nil {
		t.Errorf("import the export: %v", err)
	}
}

// openTempStore is a store of the test's own (kept failures are per store),
// holding the busybox image.
func openTempStore(t *testing.T) *cache.Store {
	t.Helper()
	dir := t.TempDir()
	s, err := cache.Open(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	if err := importBusybox(s, dir); err != nil {
		t.Fatal(err)
	}
	return s
}

// A kept service is recorded as startService starts it, without secret
// values, and comes back as a definition that starts it the same way.
func TestDebugKeptServiceRoundTrip(t *testing.T) {
	digest, _ := v1.NewHash("sha256:" + strings.Repeat("ab", 32))
	img := &cache.Image{Ref: "pipe.test/svc:1", Digest: digest, Layers: []string{"/l0", "/l1"},
		Config: &v1.ConfigFile{Config: v1.Config{Env: []string{"IMG=1"}, WorkingDir: "/srv", User: "1000", Cmd: []string{"serve"}}}}
	def := &pipeline.Service{Name: "db", Image: "svc", Env: []pipeline.EnvVar{{Name: "A", Value: "b"}, {Name: "LEAK", Value: "tok-value-123"}},
		Ready: &pipeline.Ready{Run: "true", Interval: time.Second, Retries: 4}}
	r := &run{images: map[string]*cache.Image{"svc": img}, masker: runlog.NewMasker([]string{"tok-value-123"})}
	services := r.keptServices(&pipeline.Step{Name: "s", Services: []*pipeline.Service{def}})
	if len(services) != 1 {
		t.Fatalf("services %+v", services)
	}
	ks := services[0]
	env := strings.Join(ks.Env, " ")
	if ks.ImageDigest != digest.String() || strings.Join(ks.Args, " ") != "serve" || ks.Dir != "/srv" || ks.User != "1000" ||
		!strings.Contains(env, "IMG=1") || !strings.Contains(env, "A=b") || strings.Contains(env, "tok-value") || ks.Ready.Retries != 4 {
		t.Errorf("kept service %+v", ks)
	}
	back, bimg, err := keptServiceDef(&ks)
	if err != nil {
		t.Fatal(err)
	}
	if got := serviceArgs(back, bimg.Config); strings.Join(got, " ") != "serve" {
		t.Errorf("args %v", got)
	}
	if got := WithDefaultPath(DedupEnv(append(imageEnv(bimg.Config), back.Environ()...))); strings.Join(got, " ") != env {
		t.Errorf("env %v, want %v", got, ks.Env)
	}
	if ImageWorkdir(bimg.Config) != "/srv" || imageUser(bimg) != "1000" || bimg.Digest != digest || back.Ready.Interval != time.Second {
		t.Errorf("back: %+v %+v", back, bimg)
	}
}
