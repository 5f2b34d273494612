package isolation

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// newPrestartRuntime is newTestRuntime with one init started ahead.
func newPrestartRuntime(t *testing.T) *Runtime {
	t.Helper()
	needsRoot(t)
	state := t.TempDir()
	r, err := New(Options{StateDir: state, CgroupParent: testCgroupParent, Prestart: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		checkNoLeftovers(t, state)
		if recs, _ := filepath.Glob(filepath.Join(state, "containers", "*")); len(recs) > 0 {
			t.Errorf("records left after Close: %v", recs)
		}
	})
	return r
}

// waitPrestarted waits until the pool holds a started init.
func waitPrestarted(t *testing.T, r *Runtime) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(r.inits.ready) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no init was prestarted within 30s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// startPrestarted starts s from a prestarted init and checks it was one.
func startPrestarted(t *testing.T, r *Runtime, s *Spec) *Container {
	t.Helper()
	waitPrestarted(t, r)
	c, err := r.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Destroy() })
	if want := fmt.Sprintf("pipe-%d-", os.Getpid()); !strings.HasPrefix(c.name, want) {
		t.Fatalf("container %s did not start from a prestarted init", c.name)
	}
	return c
}

func execScript(t *testing.T, c *Container, script string) string {
	t.Helper()
	out, err := execOutput(c, script)
	if err != nil {
		t.Fatalf("exec %q: %v: %s", script, err, out)
	}
	return out
}

// A container started from a prestarted init has every protection of one
// started for it: Podman's capabilities, no_new_privs and seccomp on its
// processes, no fd of pipe's or init's, its own pid, UTS and network
// namespaces, and the Spec's limits in its cgroup.
func TestPrestartedInitIsolation(t *testing.T) {
	r := newPrestartRuntime(t)
	s := busybox(t, "/bin/sleep", "1000")
	s.KeepAlive = true
	s.Hostname = "prestarted"
	s.Limits.Pids, s.Limits.Memory = 100, 256<<20
	fd, err := syscall.Open("/etc/passwd", syscall.O_RDONLY, 0) // no O_CLOEXEC on purpose
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	c := startPrestarted(t, r, s)

	caps := wantCapMask(t)
	want := fmt.Sprintf("CapInh:\t%s\nCapPrm:\t%s\nCapEff:\t%s\nCapBnd:\t%s\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n", caps, caps, caps, caps)
	if got := execScript(t, c, `grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status`); got != want {
		t.Errorf("privileges:\n%s\nwant:\n%s", got, want)
	}
	if got := execScript(t, c, `grep -E '^(CapBnd|NoNewPrivs|Seccomp):' /proc/$(pidof sleep)/status`); !strings.Contains(got, "Seccomp:\t2") || !strings.Contains(got, "NoNewPrivs:\t1") {
		t.Errorf("the main process: %s", got)
	}
	if got := execScript(t, c, `echo $(ls /proc/$(pidof sleep)/fd); for f in /proc/1/fd/* /proc/1/exe; do readlink $f && echo "init's $f is readable"; done; true`); got != "0 1 2\n" {
		t.Errorf("fds: %q, want 0 1 2 only, and init out of reach", got)
	}
	if got := execScript(t, c, `hostname; pidof sleep`); got != "prestarted\n"+mainPid(t, got)+"\n" {
		t.Errorf("hostname and pid namespace: %q", got)
	}
	if got := execScript(t, c, `sed 1,2d /proc/net/dev | cut -d: -f1 | tr -d ' '`); got != "lo\n" {
		t.Errorf("network interfaces: %q, want lo only", got)
	}
	hostNet, _ := os.Readlink("/proc/self/ns/net")
	if got := strings.TrimSpace(execScript(t, c, `readlink /proc/1/ns/net 2>/dev/null || readlink /proc/self/ns/net`)); got == hostNet {
		t.Errorf("the container shares the host's network namespace %s", got)
	}
	for file, want := range map[string]string{"pids/pids.max": "100", "memory/memory.limit_in_bytes": "268435456"} {
		ctrl, name, _ := strings.Cut(file, "/")
		dir, ok := c.cg.dirs[ctrl]
		if !ok || c.cg.version == 2 {
			continue // not this layout (v2, whose dirs has every controller's name: checked below)
		}
		if b, err := os.ReadFile(filepath.Join(dir, name)); err != nil || strings.TrimSpace(string(b)) != want {
			t.Errorf("%s: %q, %v; want %s", file, b, err, want)
		}
	}
	if c.cg.version == 2 {
		for name, want := range map[string]string{"pids.max": "100", "memory.max": "268435456"} {
			if b, err := os.ReadFile(filepath.Join(c.cg.dirs["memory"], name)); err != nil || strings.TrimSpace(string(b)) != want {
				t.Errorf("%s: %q, %v; want %s", name, b, err, want)
			}
		}
	}
}

// mainPid is the pid of the main process as the container sees it (the
// second line of out): a small number in its own pid namespace.
func mainPid(t *testing.T, out string) string {
	lines := strings.Split(out, "\n")
	if len(lines) < 2 || len(lines[1]) == 0 || len(lines[1]) > 2 {
		t.Errorf("main process's pid in the container: %q, want a small one (own pid namespace)", out)
		return ""
	}
	return lines[1]
}

// When the network namespace pool is empty, a prestarted init (cloned
// without one) makes its own: loopback only, up, not the host's.
func TestPrestartedInitUnsharesNetwork(t *testing.T) {
	r := newPrestartRuntime(t)
	r.netns.close()
	r.netns = newNetnsPool(0, r.nsMaker) // hands out nothing
	c := startPrestarted(t, r, func() *Spec { s := busybox(t, "/bin/sleep", "1000"); s.KeepAlive = true; return s }())
	if got := execScript(t, c, `sed 1,2d /proc/net/dev | cut -d: -f1 | tr -d ' '; cat /sys/class/net/lo/flags`); got != "lo\n0x9\n" {
		t.Errorf("network: %q, want lo only, up", got)
	}
	hostNet, _ := os.Readlink("/proc/self/ns/net")
	if got := strings.TrimSpace(execScript(t, c, `readlink /proc/self/ns/net`)); got == hostNet {
		t.Errorf("the container shares the host's network namespace %s", got)
	}
}

// A Spec whose memory limit is below what a started init may already use
// gets an init of its own; the pool's is left for the next container.
func TestPrestartedInitSkippedForSmallMemory(t *testing.T) {
	r := newPrestartRuntime(t)
	waitPrestarted(t, r)
	s := busybox(t, "/bin/true")
	s.Limits.Memory = 16 << 20
	c, err := r.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	if !strings.HasPrefix(c.name, s.ID+"-") {
		t.Errorf("a 16 MiB container started as %s, want its own init", c.name)
	}
	if res, err := c.Wait(); err != nil || res.ExitCode != 0 {
		t.Errorf("wait: %+v, %v", res, err)
	}
}

// A sequence of containers each takes the init prestarted during the
// previous one, and each runs to completion.
func TestPrestartedInitChain(t *testing.T) {
	r := newPrestartRuntime(t)
	for i := range 5 {
		s := busybox(t, "/bin/sh", "-c", fmt.Sprintf("exit %d", i))
		s.ID = fmt.Sprintf("chain-%d", i)
		c := startPrestarted(t, r, s)
		res, err := c.Wait()
		if err != nil || res.ExitCode != i {
			t.Fatalf("container %d: %+v, %v", i, res, err)
		}
		if err := c.Destroy(); err != nil {
			t.Fatal(err)
		}
	}
}

const prestartHelperEnv = "PIPE_ISOLATION_PRESTART_HELPER_STATE"

// TestKilledPipePrestartHelper is not a test: run by
// TestKilledPipePrestartCleanup, it prestarts an init, says "ready" and
// waits to be SIGKILLed.
func TestKilledPipePrestartHelper(t *testing.T) {
	state := os.Getenv(prestartHelperEnv)
	if state == "" {
		t.Skip("helper of TestKilledPipePrestartCleanup")
	}
	r, err := New(Options{StateDir: state, CgroupParent: testCgroupParent, Prestart: 1})
	if err != nil {
		t.Fatal(err)
	}
	waitPrestarted(t, r)
	fmt.Println("ready")
	time.Sleep(time.Hour)
}

// A SIGKILLed pipe's prestarted init dies with it (no process stays), and
// the next Runtime on the state dir removes its record and cgroup.
func TestKilledPipePrestartCleanup(t *testing.T) {
	needsRoot(t)
	state := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledPipePrestartHelper$", "-test.v")
	cmd.Env = append(os.Environ(), prestartHelperEnv+"="+state, testCgroupParentEnv+"="+testCgroupParent)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForLine(t, stdout, "ready")
	helper := cmd.Process.Pid
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	prefix := fmt.Sprintf("pipe-%d-", helper)
	recs, _ := filepath.Glob(filepath.Join(state, "containers", prefix+"*.json"))
	if len(recs) != 1 {
		t.Fatalf("records of the killed pipe: %v, want its prestarted init's", recs)
	}
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/" + testCgroupParent + "/" + prefix + "*")
	uni, _ := filepath.Glob("/sys/fs/cgroup/" + testCgroupParent + "/" + prefix + "*")
	cgs = append(cgs, uni...)
	deadline := time.Now().Add(10 * time.Second)
	for _, d := range cgs {
		for {
			b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			if len(strings.TrimSpace(string(b))) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the prestarted init outlived its pipe: %s holds %s", d, b)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	r, err := New(Options{StateDir: state, CgroupParent: testCgroupParent})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		checkNoLeftovers(t, state)
	})
	if left, _ := filepath.Glob(filepath.Join(state, "*", "*")); len(left) != 0 {
		t.Errorf("left in the state dir after cleanup: %v", left)
	}
}

// Told that one container is to come, the Runtime prestarts none after it;
// told of more, it prestarts again.
func TestPrestartExpect(t *testing.T) {
	r := newPrestartRuntime(t)
	r.Expect(1)
	s := busybox(t, "/bin/true")
	c := startPrestarted(t, r, s)
	if _, err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	r.inits.mu.Lock()
	making := r.inits.making
	r.inits.mu.Unlock()
	if len(r.inits.ready) != 0 || making {
		t.Errorf("after the last expected container: %d ready, making %v; want none", len(r.inits.ready), making)
	}
	r.Expect(2)
	waitPrestarted(t, r)
}

// Told that one container is to come, the Runtime keeps no network
// namespace ready after that one took its own; told of more, it makes them
// again. Before it is told, it makes one.
func TestNetNSPoolExpect(t *testing.T) {
	r := newPrestartRuntime(t)
	waitNetNS(t, r, 1)
	time.Sleep(200 * time.Millisecond)
	if n := len(r.netns.ready); n != 1 {
		t.Fatalf("%d network namespaces ready before Expect, want 1", n)
	}
	r.Expect(1)
	c := startPrestarted(t, r, busybox(t, "/bin/true"))
	if _, err := c.Wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(r.netns.ready); n != 0 {
		t.Errorf("%d network namespaces ready after the last expected container, want 0", n)
	}
	r.Expect(3)
	waitNetNS(t, r, netnsPoolSize)
}

// waitNetNS waits until the network namespace pool holds n.
func waitNetNS(t *testing.T, r *Runtime, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(r.netns.ready) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d network namespaces ready within 30s, want %d", len(r.netns.ready), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// The first prestarted init is reserved (record and cgroup) as the Runtime
// opens; when no container comes, Close removes the reservation with the
// rest.
func TestEarlyReservationUnused(t *testing.T) {
	needsRoot(t)
	state := t.TempDir()
	r, err := New(Options{StateDir: state, CgroupParent: testCgroupParent, Prestart: 1})
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := filepath.Glob(filepath.Join(state, "containers", "*"))
	r.Expect(0)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 {
		t.Errorf("records right after New: %v, want the first init's reservation", recs)
	}
	checkNoLeftovers(t, state)
	if recs, _ := filepath.Glob(filepath.Join(state, "containers", "*")); len(recs) > 0 {
		t.Errorf("records left after Close: %v", recs)
	}
}
