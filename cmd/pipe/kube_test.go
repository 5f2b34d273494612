package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pipe-run/pipe/executor/runlog"
)

// bothBackendsPipe is a diamond whose outputs travel along its edges (a
// deletion included), a step that fails but is allowed to, and a step
// writing files of several kinds.
const bothBackendsPipe = `steps:
  gen:
    run: [mkdir -p out/sub, echo gen > out/gen.txt, echo deep > out/sub/deep.txt, echo scratch > scratch.txt]
    outputs: [out/**]
  left:
    needs: [gen]
    run: ["cat out/gen.txt src/a.txt > left.txt", rm out/sub/deep.txt, ln -s left.txt link]
  right:
    needs: [gen]
    run: ["cat out/gen.txt > right.txt", chmod 751 right.txt, mkdir -p empty]
  join:
    needs: [left, right]
    run: ["cat left.txt right.txt > join.txt", "test ! -e out/sub/deep.txt", "test ! -e scratch.txt", "test -L link"]
  flaky:
    allow_failure: true
    run: [echo half > half.txt, exit 3]
`

// THE test of the kubernetes backend: the same pipeline gives the same
// step keys, the same results (output layers, byte for byte) and the same
// exit codes on both backends.
func TestKubeSameResultsOnBothBackends(t *testing.T) {
	k := newKubeEnv(t)
	files := map[string]string{"src/a.txt": "alpha\n"}
	local := k.store(bothBackendsPipe, files)
	pods := k.store(bothBackendsPipe, files)
	pods.repo = local.repo // the same checkout: the same snapshot
	lev, lout, lcode := local.run("--backend", "local")
	pev, pout, pcode := pods.run(k.kubeArgs()...)
	if lcode != 0 || pcode != lcode {
		t.Fatalf("exit codes: local %d, kubernetes %d, want 0 both\nlocal:\n%s\nkubernetes:\n%s", lcode, pcode, lout, pout)
	}
	lf, pf := stepEvents(lev), stepEvents(pev)
	for _, step := range []string{"gen", "left", "right", "join", "flaky"} {
		l, p := lf[step], pf[step]
		if l.Key == "" || l.Key != p.Key || l.Status != p.Status || l.ExitCode != p.ExitCode || l.Error != p.Error {
			t.Errorf("step %s: local %s key %s exit %d %q; kubernetes %s key %s exit %d %q", step,
				l.Status, l.Key, l.ExitCode, l.Error, p.Status, p.Key, p.ExitCode, p.Error)
			continue
		}
		if p.Status != runlog.StatusOK {
			continue
		}
		if lr, pr := local.result(l.Key), pods.result(p.Key); lr != pr {
			t.Errorf("step %s: result on kubernetes:\n%s\nlocally:\n%s", step, pr, lr)
		}
	}
	if pf["flaky"].ExitCode != 3 || pf["flaky"].Status != runlog.StatusFailed {
		t.Errorf("flaky on kubernetes: %+v", pf["flaky"])
	}
	// A step that fails the pipeline: the same exit codes, of the step and
	// of pipe.
	fail := "version: 1\nimage: " + kubeTestImage + "\nsteps:\n  bad: {run: [echo x > x.txt, exit 4]}\n"
	if err := os.WriteFile(filepath.Join(local.repo, "fail.pipe.yml"), []byte(fail), 0o644); err != nil {
		t.Fatal(err)
	}
	lev, _, lcode = local.run("--backend", "local", "-f", "fail.pipe.yml")
	pev, pout, pcode = pods.run(append(k.kubeArgs(), "-f", "fail.pipe.yml")...)
	l, p := stepEvents(lev)["bad"], stepEvents(pev)["bad"]
	if lcode != ExitStepFailed || pcode != lcode || l.ExitCode != 4 || p.ExitCode != 4 || l.Error != p.Error || l.Key != p.Key {
		t.Errorf("a failing step: pipe exit %d locally, %d on kubernetes; step %d %q / %d %q\n%s", lcode, pcode, l.ExitCode, l.Error, p.ExitCode, p.Error, pout)
	}
	k.waitGone("after the runs")
}

// A diamond with outputs along its edges and a service reached by name,
// then a rerun on a fresh store that is all cache hits from the registry.
func TestKubeDiamondServiceAndRerunFromTheRegistry(t *testing.T) {
	k := newKubeEnv(t)
	pipe := `services:
  web:
    image: ` + kubeTestImage + `
    command: "mkdir -p /srv && echo served > /srv/index.html && exec httpd -f -p 8080 -h /srv"
    ready: {run: "wget -q -O /dev/null http://127.0.0.1:8080/", interval: 1s}
steps:
  gen: {run: [mkdir -p out, echo gen > out/gen.txt], outputs: [out/**]}
  left: {needs: [gen], run: ["cat out/gen.txt > left.txt"]}
  right:
    needs: [gen]
    services: [web]
    run: ["wget -q -O web.txt http://web:8080/", "cat out/gen.txt >> web.txt"]
  join: {needs: [left, right], run: ["cat left.txt web.txt > join.txt"]}
`
	a := k.store(pipe, nil)
	watchA := k.watchPods()
	evs, out, code := a.run(k.kubeArgs()...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if pods := watchA(); len(pods) == 0 {
		t.Fatalf("the pod watch saw none of the first run's pods: it cannot tell that the rerun makes none")
	}
	f := stepEvents(evs)
	if got := treeDump(t, filepath.Join(a.home, "results", f["join"].Key, "fs")); !strings.Contains(got, "join.txt -rw-r--r-- gen\nserved\ngen\n") {
		t.Errorf("join's result:\n%s", got)
	}
	k.waitGone("after the run")

	// Another machine: a fresh store, the same checkout, the same registry.
	b := k.store(pipe, nil)
	b.repo = a.repo
	watch := k.watchPods()
	evs, out, code = b.run(append(k.kubeArgs(), "--cache-from", k.repo)...)
	if code != 0 {
		t.Fatalf("rerun: exit %d\n%s", code, out)
	}
	for step, ev := range stepEvents(evs) {
		if ev.Status != runlog.StatusCached || ev.Remote != k.repo || ev.Key != f[step].Key {
			t.Errorf("rerun: step %s %s from %q key %s, want cached from %s with key %s", step, ev.Status, ev.Remote, ev.Key, k.repo, f[step].Key)
		}
	}
	if pods := watch(); len(pods) != 0 {
		t.Errorf("a rerun of cache hits made %d pod(s)", len(pods))
	}
	if got := treeDump(t, filepath.Join(b.home, "results", f["join"].Key, "fs")); !strings.Contains(got, "gen\nserved\ngen\n") {
		t.Errorf("join's result on the fresh store:\n%s", got)
	}
}

// A secret reaches its step, and is never printed: not in the output, the
// events, the run log, nor any pod's spec (it travels by secretKeyRef).
func TestKubeSecretNeverInLogsEventsOrPodSpecs(t *testing.T) {
	k := newKubeEnv(t)
	const secret = "s3cr3t-value-for-the-pod"
	s := k.store(`secrets: [TOKEN]
steps:
  use:
    secrets: [TOKEN]
    run: ['test "$TOKEN" = "$(cat want.txt)"', 'echo "token=$TOKEN"', 'echo "$TOKEN" > leaked.txt']
  other: {run: 'env > env.txt; ! grep -q s3cr3t env.txt'}
`, map[string]string{"want.txt": secret})
	watch := k.watchPods()
	cmd := s.command(append([]string{"run", "--json"}, k.kubeArgs()...)...)
	cmd.Env = append(cmd.Env, "TOKEN="+secret)
	var stdout, stderr syncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if all := stdout.String() + stderr.String(); strings.Contains(all, secret) || !strings.Contains(all, "token=***") {
		t.Errorf("the output shows the secret, or not its mask:\n%s", all)
	}
	logs, _ := filepath.Glob(filepath.Join(s.home, "runs", "*", "*"))
	for _, l := range logs {
		if b, _ := os.ReadFile(l); strings.Contains(string(b), secret) {
			t.Errorf("run log %s holds the secret", l)
		}
	}
	pods := watch()
	refs := 0
	for _, p := range pods {
		b, _ := json.Marshal(p)
		if strings.Contains(string(b), secret) {
			t.Errorf("pod %s's spec holds the secret", p.Name)
		}
		for _, c := range p.Spec.Containers {
			for _, e := range c.Env {
				if e.Name == "TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					refs++
				}
			}
		}
	}
	if len(pods) == 0 || refs == 0 {
		t.Errorf("saw %d pod versions, %d secretKeyRefs of TOKEN", len(pods), refs)
	}
	k.waitGone("after the run")
}

// A step over its memory limit and a step over its timeout end as they
// do locally: killed (137), with the same errors.
func TestKubeOOMAndTimeout(t *testing.T) {
	k := newKubeEnv(t)
	s := k.store(`steps:
  hog: {resources: {memory: 32MiB}, run: "dd if=/dev/zero of=/dev/null bs=96M count=1"}
  slow: {timeout: 5s, run: sleep 300}
`, nil)
	start := time.Now()
	evs, out, code := s.run(append(k.kubeArgs(), "--keep-going")...)
	if code != ExitStepFailed {
		t.Errorf("exit %d, want %d\n%s", code, ExitStepFailed, out)
	}
	f := stepEvents(evs)
	if ev := f["hog"]; ev.Status != runlog.StatusFailed || ev.ExitCode != 137 || !strings.Contains(ev.Error, "killed: out of memory (limit 33554432 bytes") {
		t.Errorf("hog: %s exit %d %q\n%s", ev.Status, ev.ExitCode, ev.Error, out)
	}
	if ev := f["slow"]; ev.Status != runlog.StatusFailed || ev.ExitCode != 137 || ev.Error != "timed out after 5s" {
		t.Errorf("slow: %s exit %d %q\n%s", ev.Status, ev.ExitCode, ev.Error, out)
	}
	if d := time.Since(start); d > 4*time.Minute {
		t.Errorf("the run took %s: the timeout did not stop the pod", d)
	}
	k.waitGone("after the run")
}

// Ctrl-C deletes the run's pods and Secret before pipe exits.
func TestKubeInterruptLeavesNothing(t *testing.T) {
	k := newKubeEnv(t)
	s := k.store("secrets: [TOKEN]\nsteps:\n  long: {secrets: [TOKEN], run: sleep 600}\n", nil)
	cmd := s.command(append([]string{"run"}, k.kubeArgs()...)...)
	cmd.Env = append(cmd.Env, "TOKEN=interrupt-token-value")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	k.waitRunning(cmd, &out)
	if left := k.objects(); len(left) < 2 {
		t.Errorf("while it runs: %v, want its pod and its Secret", left)
	}
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("pipe did not exit after SIGINT\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != ExitInterrupted {
		t.Errorf("exit %d, want %d\n%s", code, ExitInterrupted, out.String())
	}
	if left := k.objects(); len(left) > 0 {
		// Deleted already, maybe still terminating: nothing may stay.
		k.waitGone("after Ctrl-C")
	}
}

// What a killed coordinator left, pipe cache prune --kubernetes removes.
func TestKubePruneWhatAKilledRunLeft(t *testing.T) {
	k := newKubeEnv(t)
	s := k.store("steps:\n  long: {run: sleep 600}\n", nil)
	cmd := s.command(append([]string{"run"}, k.kubeArgs()...)...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	k.waitRunning(cmd, &out)
	cmd.Process.Kill()
	cmd.Wait()
	if left := k.objects(); len(left) < 2 {
		t.Fatalf("after SIGKILL: %v, want the pod and the Secret still there", left)
	}
	stdout, stderr, code := s.pipe("cache", "prune", "--kubernetes", "--kube-namespace", k.ns)
	if code != 0 || !strings.Contains(stdout, "removed what run") {
		t.Fatalf("prune: exit %d\n%s%s", code, stdout, stderr)
	}
	k.waitGone("after the prune")
	if stdout, _, _ := s.pipe("cache", "prune", "--kubernetes", "--kube-namespace", k.ns); !strings.Contains(stdout, "nothing to prune") {
		t.Errorf("a second prune: %s", stdout)
	}
}

// pipe debug --last opens, on this machine, the state of a step that
// failed in a pod: its workspace as the pod left it.
func TestKubeDebugLastOfAPodFailure(t *testing.T) {
	k := newKubeEnv(t)
	s := k.store(`steps:
  dep: {run: echo dep-output > dep.txt}
  build:
    needs: [dep]
    run: [echo written > out.txt, rm -f src.txt, exit 3]
`, map[string]string{"src.txt": "from the checkout\n"})
	_, out, code := s.run(append(k.kubeArgs(), "--keep-failed")...)
	if code != ExitStepFailed || !strings.Contains(out, "pipe debug --last opens a shell in it") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	k.waitGone("after the run")
	cmd := s.command("debug", "--last")
	p := startPTYCmd(t, cmd)
	p.expect("/workspace #")
	p.send(`cat out.txt dep.txt; test -e src.txt || echo src-gone`)
	for _, want := range []string{"written", "dep-output", "src-gone"} {
		p.expect(want)
	}
	p.send("exit 0")
	if code := p.wait(); code != 3 {
		t.Errorf("debug --last: exit %d, want the step's 3\n%s", code, p.out.String())
	}
}

// volumePipe writes into a cache volume in one step and reads it in the
// next; each run counts up, replaces a file, keeps a symlink.
const volumePipe = `caches:
  deps: /cache/deps
steps:
  write:
    caches: [deps]
    run: ["n=$(cat /cache/deps/n 2>/dev/null || echo 0)", "echo $((n+1)) > /cache/deps/n", "echo w > /cache/deps/w-$((n+1))", "rm -f /cache/deps/w-$n", "ln -sf n /cache/deps/link"]
  read:
    needs: [write]
    caches: [deps]
    run: ["echo seen-$(cat /cache/deps/n)-by-read", "mkdir -p /cache/deps/sub", "echo $(cat /cache/deps/n) > /cache/deps/sub/read"]
`

// Cache volumes on kubernetes: a step sees what the step before it wrote
// in the volume, a second run sees the first run's, and the volume ends as
// the same two runs leave it locally.
func TestKubeCacheVolumes(t *testing.T) {
	k := newKubeEnv(t)
	pods := k.store(volumePipe, nil)
	local := k.store(volumePipe, nil)
	local.repo = pods.repo
	for run := 1; run <= 2; run++ {
		evs, out, code := pods.run(append(k.kubeArgs(), "--no-cache")...)
		if code != 0 {
			t.Fatalf("run %d on kubernetes: exit %d\n%s", run, code, out)
		}
		logs, _ := json.Marshal(evs)
		if want := fmt.Sprintf("seen-%d-by-read", run); !strings.Contains(string(logs), want) {
			t.Errorf("run %d: read did not say %q\n%s", run, want, out)
		}
		if _, out, code := local.run("--backend", "local", "--no-cache"); code != 0 {
			t.Fatalf("run %d locally: exit %d\n%s", run, code, out)
		}
	}
	pv := treeDump(t, filepath.Join(pods.home, "volumes", "deps"))
	lv := treeDump(t, filepath.Join(local.home, "volumes", "deps"))
	if pv != lv || !strings.Contains(pv, "n -rw-r--r-- 2\n") || strings.Contains(pv, "w-1") || !strings.Contains(pv, "sub/read -rw-r--r-- 2\n") {
		t.Errorf("the volume after two runs on kubernetes:\n%s\nlocally:\n%s", pv, lv)
	}
	k.waitGone("after the runs")
}

// A cache volume mounted under /workspace (as translated GitLab caches
// are) is no part of the step's result, on either backend: the results
// are the same.
func TestKubeCacheVolumeUnderTheWorkspace(t *testing.T) {
	k := newKubeEnv(t)
	pipe := "caches:\n  c: /workspace/.c\nsteps:\n  s: {caches: [c], run: [echo v > .c/f, echo r > out.txt]}\n"
	local := k.store(pipe, nil)
	pods := k.store(pipe, nil)
	pods.repo = local.repo
	lev, lout, lcode := local.run("--backend", "local")
	pev, pout, pcode := pods.run(k.kubeArgs()...)
	if lcode != 0 || pcode != 0 {
		t.Fatalf("exit codes: local %d, kubernetes %d\nlocal:\n%s\nkubernetes:\n%s", lcode, pcode, lout, pout)
	}
	l, p := stepEvents(lev)["s"], stepEvents(pev)["s"]
	if lr, pr := local.result(l.Key), pods.result(p.Key); l.Key != p.Key || lr != pr || strings.Contains(pr, "f ") {
		t.Errorf("result on kubernetes:\n%s\nlocally:\n%s", pr, lr)
	}
	if got := treeDump(t, filepath.Join(pods.home, "volumes", "c")); !strings.Contains(got, "f -rw-r--r-- v\n") {
		t.Errorf("the volume on kubernetes:\n%s", got)
	}
	k.waitGone("after the runs")
}
