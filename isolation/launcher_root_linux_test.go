package isolation

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// An init started ahead waits for its config with the container's bounding
// set already (the launcher's thread dropped it before the exec) and with
// all of pipe's permitted capabilities, which it needs to build the
// container; of pipe's own threads only the launcher's is changed, so
// nothing else pipe starts (git, a copy of itself) inherits that set.
func TestLauncherHandsInitTheBoundingSet(t *testing.T) {
	r := newPrestartRuntime(t)
	waitPrestarted(t, r)
	in := <-r.inits.ready
	defer in.destroy(r)
	if !launcher.predropped {
		t.Fatal("the launcher's thread did not drop its bounding set (as root it has CAP_SETPCAP)")
	}
	caps := wantCapMask(t)
	self := statusLines(t, fmt.Sprintf("/proc/self/task/%d/status", launcher.tid), "CapPrm", "CapBnd")
	full := strings.TrimSpace(strings.TrimPrefix(strings.Split(self, "\n")[0], "CapPrm:"))
	if !strings.Contains(self, "CapBnd:\t"+caps) {
		t.Fatalf("the launcher's thread has not the container's bounding set:\n%s", self)
	}
	got := statusLines(t, fmt.Sprintf("/proc/%d/status", in.cmd.Process.Pid), "CapPrm", "CapEff", "CapBnd")
	want := fmt.Sprintf("CapPrm:\t%s\nCapEff:\t%s\nCapBnd:\t%s\n", full, full, caps)
	if got != want {
		t.Errorf("init waiting for its config:\n%s\nwant:\n%s", got, want)
	}
	tasks, _ := filepath.Glob("/proc/self/task/*/status")
	changed := 0
	for _, task := range tasks {
		if strings.Contains(statusLines(t, task, "CapBnd"), caps) {
			changed++
		}
	}
	if changed != 1 {
		t.Errorf("%d of pipe's %d threads have the container's bounding set, want 1 (the launcher's)", changed, len(tasks))
	}
}

// An init is born in its container's cgroup, in every hierarchy: on v2 by
// CLONE_INTO_CGROUP, on v1 from the launcher's thread moved into it for
// the fork (no cgroup.procs move, whose first write after a quiet spell
// waits for an RCU grace period). The thread is back in pipe's own cgroups
// after, so it holds no container's cgroup: each can be removed.
func TestInitBornInItsCgroup(t *testing.T) {
	r := newTestRuntime(t)
	if r.cg.layout.version == 0 {
		t.Fatal("no cgroup here to be born in")
	}
	for i := range 3 {
		cg, err := r.cg.create(fmt.Sprintf("born-%d-%d", os.Getpid(), i), Limits{Pids: 64})
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("/bin/sleep", "100")
		if fd, ok := cg.fd(); ok {
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
		}
		inCgroup, err := r.startInit(cmd, cg)
		if err != nil {
			t.Fatal(err)
		}
		if !inCgroup {
			t.Errorf("v%d: init was started outside its cgroup (moved after)", r.cg.layout.version)
		}
		own := cgroupLines(t, fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
		for controller, dir := range cg.dirs {
			rel := strings.TrimPrefix(dir, r.cg.layout.v1[controller])
			if r.cg.layout.version == 2 {
				rel = strings.TrimPrefix(dir, r.cg.layout.unified)
			}
			if !own[rel] {
				t.Errorf("%s: init is not in %s (%s): %v", controller, dir, rel, own)
			}
		}
		th := cgroupLines(t, fmt.Sprintf("/proc/self/task/%d/cgroup", launcher.tid))
		for rel := range own {
			if th[rel] && rel != "/" {
				t.Errorf("the launcher's thread is still in %s, the container's cgroup", rel)
			}
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if err := cg.destroy(); err != nil {
			t.Fatalf("the cgroup the init was born in cannot be removed: %v", err)
		}
	}
}

// cgroupLines reads a /proc cgroup file as a set of its cgroup paths.
func cgroupLines(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f := strings.SplitN(l, ":", 3); len(f) == 3 {
			set[f[2]] = true
		}
	}
	return set
}
