package executor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pipe-run/pipe/executor/kept"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/pipeline"
)

// newPodEnv is a fake env whose steps run as fake pods, in a store of its
// own (kept failures and results are per store).
func newPodEnv(t *testing.T) (*testEnv, *fakePods) {
	t.Helper()
	e := newFakeEnv(t)
	e.store = openTempStore(t)
	return e, newFakePods(t.TempDir())
}

// withPods runs the env's steps as pods of f (and never as local containers).
func withPods(f *fakePods, mod func(*Options)) func(*Options) {
	return func(o *Options) {
		o.Pods, o.Runtime = f, nil
		if mod != nil {
			mod(o)
		}
	}
}

// diamondYML is a diamond whose outputs travel along its edges.
const diamondYML = `steps:
  gen:
    run: [mkdir -p out, echo gen > out/gen.txt, echo scratch > scratch.txt]
    outputs: [out/**]
  left:
    needs: [gen]
    run: ["cat out/gen.txt > left.txt", echo left >> left.txt, rm out/gen.txt]
  right:
    needs: [gen]
    run: ["cat out/gen.txt src/main.txt > right.txt"]
  join:
    needs: [left, right]
    run: ["cat left.txt right.txt > join.txt", "test ! -e out/gen.txt", "test ! -e scratch.txt"]
`

// The same pipeline gives the same keys and the same output layers on
// pods as in local containers.
func TestPodStepsMatchLocalContainers(t *testing.T) {
	local := newFakeEnv(t)
	local.store = openTempStore(t)
	_, llog := local.mustRun(diamondYML, nil)
	pe, pods := newPodEnv(t)
	pe.repo, pe.nonce = local.repo, local.nonce
	sum, plog := pe.mustRun(diamondYML, withPods(pods, nil))
	if sum.Status != runlog.StatusOK {
		t.Fatalf("pods: %s\n%s", sum.Status, plog.text())
	}
	if local.starts() != 4 || pe.starts() != 0 || len(pods.podSteps()) != 4 {
		t.Errorf("containers: %d local, %d on the pods' env; pods run %d", local.starts(), pe.starts(), len(pods.podSteps()))
	}
	for _, step := range []string{"gen", "left", "right", "join"} {
		lk, pk := llog.finished()[step].Key, plog.finished()[step].Key
		if lk == "" || lk != pk {
			t.Errorf("step %s: key %q on pods, %q locally", step, pk, lk)
			continue
		}
		lr, err1 := local.store.Result(lk)
		pr, err2 := pe.store.Result(pk)
		if err1 != nil || err2 != nil {
			t.Fatalf("step %s: results: %v %v", step, err1, err2)
		}
		if got, want := treeText(t, pr.Dir), treeText(t, lr.Dir); got != want {
			t.Errorf("step %s: output layer on pods:\n%s\nlocally:\n%s", step, got, want)
		}
	}
	if got := strings.Join(plog.lines("join"), "\n"); !strings.Contains(got, "+ cat left.txt right.txt > join.txt") {
		t.Errorf("join's log lacks its command echo:\n%s", got)
	}

	// Again: every step a hit, no pod, nothing pushed.
	before := len(pods.podSteps())
	_, again := pe.mustRun(diamondYML, withPods(pods, nil))
	for step, ev := range again.finished() {
		if ev.Status != runlog.StatusCached {
			t.Errorf("rerun: step %s %s", step, ev.Status)
		}
	}
	if len(pods.podSteps()) != before {
		t.Errorf("a rerun of cache hits ran %d pods", len(pods.podSteps())-before)
	}
}

// Each workspace layer and image is made pullable once per run, whatever
// the number of steps using it; secrets go in Secrets, never in Env.
func TestPodStepDescription(t *testing.T) {
	e, pods := newPodEnv(t)
	yml := `secrets: [TOKEN]
steps:
  base: {run: echo base > base.txt}
  a: {needs: [base], user: "builder", secrets: [TOKEN], run: 'test "$TOKEN" = tok-value-123', resources: {memory: 64MiB, cpus: 0.5, pids: 100, io_write: 1MiB}, timeout: 90s}
  b: {needs: [base], network: host, run: 'id -u > b.txt'}
  c: {needs: [base], user: "1000:users", run: "true"}
`
	sum, log := e.mustRun(yml, withPods(pods, func(o *Options) { o.Secrets = map[string]string{"TOKEN": "tok-value-123"} }))
	if sum.Status != runlog.StatusOK {
		t.Fatalf("%s\n%s", sum.Status, log.text())
	}
	for dir, n := range pods.layerCalls {
		if n != 1 {
			t.Errorf("layer %s made pullable %d times, want once", dir, n)
		}
	}
	if len(pods.layerCalls) != 2 { // the snapshot, base's output
		t.Errorf("%d layers made pullable, want 2: %v", len(pods.layerCalls), pods.layerCalls)
	}
	if n := pods.imageCalls[testImage]; n != 1 {
		t.Errorf("image made pullable %d times, want once", n)
	}
	by := map[string]*PodStep{}
	for _, ps := range pods.podSteps() {
		by[ps.Name] = ps
		if !pipeline.IsName(strings.ReplaceAll(ps.ID, "-", "x")) || len(ps.ID) > 63 || strings.ToLower(ps.ID) != ps.ID {
			t.Errorf("pod id %q is not a DNS label", ps.ID)
		}
		if len(ps.Args) != 4 || ps.Args[0] != pipeline.Shell || ps.Args[1] != "-e" || ps.Args[2] != "-c" || ps.Args[3] == "" {
			t.Errorf("step %s: argv %q, want sh -e -c SCRIPT", ps.Name, ps.Args)
		}
		if ps.Dir != pipeline.Workspace || ps.Stdout == nil {
			t.Errorf("step %s: dir %q, stdout %v", ps.Name, ps.Dir, ps.Stdout)
		}
		if strings.Contains(strings.Join(ps.Env, " "), "tok-value-123") {
			t.Errorf("step %s: a secret value in the env: %q", ps.Name, ps.Env)
		}
	}
	a, b, c := by["a"], by["b"], by["c"]
	if a.Secrets["TOKEN"] != "tok-value-123" || len(b.Secrets) != 0 {
		t.Errorf("secrets: a %v, b %v", a.Secrets, b.Secrets)
	}
	if a.User != "1000:1000" || c.User != "1000:100" || b.User != "" {
		t.Errorf("users: a %q, b %q, c %q", a.User, b.User, c.User)
	}
	if a.Memory != 64<<20 || a.CPU != 0.5 || a.Pids != 100 || a.Timeout.Seconds() != 90 || !a.NetworkNone || b.NetworkNone {
		t.Errorf("limits: %+v / b network none %v", a, b.NetworkNone)
	}
	if len(a.Workspace) != 2 || a.Workspace[0] != b.Workspace[0] || a.Workspace[1] != c.Workspace[1] || len(by["base"].Workspace) != 1 {
		t.Errorf("workspaces: a %v, b %v, base %v", a.Workspace, b.Workspace, by["base"].Workspace)
	}
	if a.PreferNode != "fake-node" || by["base"].PreferNode != "" {
		t.Errorf("prefer node: a %q, base %q", a.PreferNode, by["base"].PreferNode)
	}
	if !slices.ContainsFunc(log.lines("a"), func(l string) bool { return strings.Contains(l, "pids limit not applied") }) {
		t.Errorf("a's log does not give the runtime's notes:\n%s", strings.Join(log.lines("a"), "\n"))
	}
	for _, want := range []string{"io_read and io_write are not applied to pods", "pod " + a.ID + ": Running"} {
		if !slices.ContainsFunc(log.lines("a"), func(l string) bool { return strings.Contains(l, want) }) {
			t.Errorf("a's log lacks %q:\n%s", want, strings.Join(log.lines("a"), "\n"))
		}
	}
	if strings.Contains(log.text(), "tok-value-123") {
		t.Errorf("a secret value in the events")
	}
}

// A user name the image does not know fails the step before any pod.
func TestPodStepUnknownUser(t *testing.T) {
	e, pods := newPodEnv(t)
	sum, log := e.mustRun("steps:\n  s: {user: nosuchuser, run: 'true'}\n", withPods(pods, nil))
	ev := log.finished()["s"]
	if sum.Status != runlog.StatusFailed || !strings.Contains(ev.Error, `"nosuchuser"`) || !strings.Contains(ev.Error, "/etc/passwd") || len(pods.podSteps()) != 0 {
		t.Errorf("status %s, error %q, %d pods", sum.Status, ev.Error, len(pods.podSteps()))
	}
}

// How a pod ended maps onto the step as a container's end does.
func TestPodOutcomes(t *testing.T) {
	for _, c := range []struct {
		name   string
		yml    string
		hook   func(*PodStep, *PodResult) error
		exit   int
		err    string
		infra  bool
		status runlog.Status
	}{
		{name: "exit code", yml: "  s: {run: [echo a, exit 7]}\n", exit: 7, err: "command 2 failed with exit code 7: exit 7", status: runlog.StatusFailed},
		{name: "oom", yml: "  s: {run: 'true', resources: {memory: 32MiB}}\n", exit: 137, err: "killed: out of memory (limit 33554432 bytes",
			hook: func(_ *PodStep, r *PodResult) error { r.OOMKilled, r.ExitCode = true, 0; return nil }, status: runlog.StatusFailed},
		{name: "timeout", yml: "  s: {run: sleep 5, timeout: 1s}\n", exit: 137, err: "timed out after 1s", status: runlog.StatusFailed},
		{name: "unschedulable", yml: "  s: {run: 'true'}\n", infra: true, err: "0/1 nodes are available: Insufficient memory", status: runlog.StatusFailed,
			hook: func(_ *PodStep, r *PodResult) error {
				r.Detail = "unschedulable: 0/1 nodes are available: Insufficient memory"
				return nil
			}},
		{name: "cluster error", yml: "  s: {run: 'true'}\n", infra: true, err: "pod: create pod: forbidden", status: runlog.StatusFailed,
			hook: func(*PodStep, *PodResult) error { return errors.New("create pod: forbidden") }},
		{name: "diff lost", yml: "  s: {run: 'echo x > f'}\n", infra: true, err: "fetch what the step wrote under /workspace", status: runlog.StatusFailed,
			hook: func(_ *PodStep, r *PodResult) error { r.Diff.Digest.Hex = strings.Repeat("0", 64); return nil }},
	} {
		t.Run(c.name, func(t *testing.T) {
			e, pods := newPodEnv(t)
			pods.hook = c.hook
			sum, log := e.mustRun("steps:\n"+c.yml, withPods(pods, nil))
			ev := log.finished()["s"]
			if ev.Status != c.status || !strings.Contains(ev.Error, c.err) || (ev.ExitCode != c.exit && !c.infra) {
				t.Fatalf("step: %s exit %d error %q, want %s exit %d error %q\n%s", ev.Status, ev.ExitCode, ev.Error, c.status, c.exit, c.err, log.text())
			}
			if got := slices.Contains(sum.Infra, "s"); got != c.infra {
				t.Errorf("infra failure %v, want %v", got, c.infra)
			}
		})
	}
}

// A failed pod's workspace diff is kept for pipe debug --last, as a local
// container's upper dir is, without its secret.
func TestPodFailureIsKept(t *testing.T) {
	e, pods := newPodEnv(t)
	sum, log := e.mustRun(debugYML, withPods(pods, func(o *Options) {
		o.KeepFailed, o.Targets, o.Secrets = true, []string{"build"}, map[string]string{"TOKEN": "tok-value-123"}
	}))
	if sum.Status != runlog.StatusFailed {
		t.Fatalf("status %s\n%s", sum.Status, log.text())
	}
	if n := len(pods.podSteps()); n != 4 { // dep, then build with two retries
		t.Errorf("%d pods, want 4", n)
	}
	recs, err := kept.List(e.store)
	if err != nil || len(recs) != 1 || recs[0].Step != "build" || recs[0].Command != 2 || recs[0].ExitCode != 3 || recs[0].Lowers != 2 {
		t.Fatalf("kept: %v %+v", err, recs)
	}
	if got, _ := os.ReadFile(filepath.Join(recs[0].Path(), "ws", "out.txt")); string(got) != "one\n" {
		t.Errorf("kept workspace upper: out.txt %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(recs[0].Path(), "lower", "1", "dep.txt")); string(got) != "dep\n" {
		t.Errorf("kept lower 1: dep.txt %q", got)
	}
	b, _ := os.ReadFile(filepath.Join(recs[0].Path(), "record.json"))
	if strings.Contains(string(b), "tok-value-123") {
		t.Errorf("record.json holds the secret:\n%s", b)
	}
	if !strings.Contains(strings.Join(log.lines("build"), "\n"), "pipe debug --last opens a shell in it") {
		t.Errorf("build's log does not say it was kept:\n%s", strings.Join(log.lines("build"), "\n"))
	}
	if leftover := dirEntries(t, e.store.TempDir()); len(leftover) != 0 {
		t.Errorf("staging left in the store: %v", leftover)
	}
}

// A step that mounts one cache volume at two paths (the parser refuses
// it; a translated pipeline might not) is refused before anything runs:
// its two emptyDirs' changes could not both be applied.
func TestPodRefusesAVolumeMountedTwice(t *testing.T) {
	twice := &pipeline.Step{Name: "b", Caches: []pipeline.Cache{{Name: "deps", Path: "/deps"}, {Name: "deps", Path: "/deps2"}}}
	once := &pipeline.Step{Name: "a", Caches: []pipeline.Cache{{Name: "deps", Path: "/deps"}}}
	err := checkPodSteps([]*pipeline.Step{once, twice})
	var pe *PodUnsupportedError
	if !errors.As(err, &pe) || len(pe.Steps) != 1 || !strings.Contains(err.Error(), "step b (cache volume deps)") || !strings.Contains(err.Error(), "--backend local") {
		t.Fatalf("checkPodSteps: %v", err)
	}
	if err := checkPodSteps([]*pipeline.Step{once}); err != nil {
		t.Errorf("a volume mounted once: %v", err)
	}
}

// volumeYML writes into a cache volume in one step and reads it in the
// next; what a step leaves there (a failed one too) stays for the next run.
const volumeYML = `caches: {deps: /deps}
steps:
  write:
    caches: [deps]
    run: ["n=$(cat ../deps/n 2>/dev/null || echo 0)", "echo $((n+1)) > ../deps/n", "echo w > ../deps/w-$((n+1))", "rm -f ../deps/w-$n"]
  read:
    needs: [write]
    caches: [deps]
    run: ["cat ../deps/n > seen.txt", "echo read > ../deps/read", "exit 3"]
`

// A pod step's cache volume comes from this machine's volume and goes back
// to it, as a local container's bind mount would: the same content after
// two runs on both backends, removals included, and a failed step's
// writes kept.
func TestPodCacheVolumesMatchLocal(t *testing.T) {
	volume := func(e *testEnv) []string {
		t.Helper()
		dir, release, err := e.store.Volume(context.Background(), "deps")
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		return dirEntries(t, dir)
	}
	local := newFakeEnv(t)
	local.store = openTempStore(t)
	pe, pods := newPodEnv(t)
	pe.repo, pe.nonce = local.repo, local.nonce
	for run := 1; run <= 2; run++ {
		lsum, llog := local.mustRun(volumeYML, func(o *Options) { o.NoCache = true })
		psum, plog := pe.mustRun(volumeYML, withPods(pods, func(o *Options) { o.NoCache = true }))
		if lsum.Status != runlog.StatusFailed || psum.Status != runlog.StatusFailed {
			t.Fatalf("run %d: local %s, pods %s\n%s\n%s", run, lsum.Status, psum.Status, llog.text(), plog.text())
		}
	}
	want := []string{"n", "read", "w-2"}
	if got, lgot := volume(pe), volume(local); !slices.Equal(got, want) || !slices.Equal(lgot, want) {
		t.Errorf("the volume after two runs: pods %v, local %v, want %v", got, lgot, want)
	}
	for _, ps := range pods.podSteps() {
		if len(ps.Volumes) != 1 || ps.Volumes[0].Path != "/deps" {
			t.Errorf("pod %s: volumes %+v", ps.ID, ps.Volumes)
		}
	}
}
