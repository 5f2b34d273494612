package isolation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A rootless pipe uses the v2 cgroup it runs in when it is delegated with
// memory and pids: it moves into its supervisor leaf and makes containers'
// cgroups under <own>/<parent>. Anything else: no cgroup, and why.
func TestRootlessCgroupsDelegated(t *testing.T) {
	root, mi := fakeCgroupMounts(t, []string{"cgroup2:unified:rw,nsdelegate"}, map[string]string{"unified": "cpu io memory pids"})
	own := "/user.slice/user-1000.slice/user@1000.service/app.slice/run.scope"
	dir := filepath.Join(root, "unified", own)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"cgroup.controllers": "cpu memory pids", "cgroup.procs": "", "cgroup.subtree_control": ""} {
		writeTestFile(t, filepath.Join(dir, name), v)
	}
	writeTestFile(t, filepath.Join(root, "mountinfo"), string(mi))
	writeTestFile(t, filepath.Join(root, "self"), "0::"+own+"\n")
	cfg := cgroupConfig{parent: "pipe", mountinfo: filepath.Join(root, "mountinfo"), selfCgroup: filepath.Join(root, "self"), movePids: []int{4242, 4343}}

	m, why := rootlessCgroups(cfg)
	if why != "" || m.layout.version != 2 || m.layout.unified != dir {
		t.Fatalf("delegated: why %q, layout %+v; want v2 rooted at %s", why, m.layout, dir)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, supervisorCgroup, "cgroup.procs")); string(b) != "4343" {
		t.Errorf("supervisor leaf got %q, want the last pid moved (4242 then 4343)", b)
	}
	if got := m.cgroupFor("c1").dirs["memory"]; got != filepath.Join(dir, "pipe", "c1") {
		t.Errorf("a container's cgroup: %s", got)
	}
	// Once in the supervisor leaf, the next Runtime finds the same root.
	writeTestFile(t, filepath.Join(root, "self"), "0::"+own+"/"+supervisorCgroup+"\n")
	if m, why := rootlessCgroups(cfg); why != "" || m.layout.unified != dir {
		t.Errorf("from the supervisor leaf: why %q, root %s; want %s", why, m.layout.unified, dir)
	}
	writeTestFile(t, filepath.Join(root, "self"), "0::"+own+"\n")

	writeTestFile(t, filepath.Join(dir, "cgroup.controllers"), "cpu")
	if m, why := rootlessCgroups(cfg); m.layout.version != 0 || !strings.Contains(why, "without the memory and pids") {
		t.Errorf("memory and pids not delegated: version %d, why %q", m.layout.version, why)
	}
	writeTestFile(t, filepath.Join(dir, "cgroup.controllers"), "cpu memory pids")
	writeTestFile(t, filepath.Join(dir, "cgroup.procs"), "77\n")
	if m, why := rootlessCgroups(cfg); m.layout.version != 0 || !strings.Contains(why, "holds other processes") {
		t.Errorf("others in pipe's cgroup, parent not delegated: version %d, why %q", m.layout.version, why)
	}
	// A delegated parent without processes serves instead (a shell stays in
	// pipe's own cgroup, as in a CI job's).
	up := filepath.Dir(dir)
	for name, v := range map[string]string{"cgroup.controllers": "cpu memory pids", "cgroup.procs": "", "cgroup.subtree_control": "cpu memory pids"} {
		writeTestFile(t, filepath.Join(up, name), v)
	}
	if m, why := rootlessCgroups(cfg); why != "" || m.layout.unified != up {
		t.Errorf("others in pipe's cgroup, delegated parent: root %s, why %q; want %s", m.layout.unified, why, up)
	}
	if b, _ := os.ReadFile(filepath.Join(up, supervisorCgroup, "cgroup.procs")); string(b) != "4343" {
		t.Errorf("the parent's supervisor leaf got %q", b)
	}
	os.RemoveAll(filepath.Join(up, supervisorCgroup))
	os.Remove(filepath.Join(up, "cgroup.procs"))
	if os.Geteuid() != 0 { // root may write anything: only an ordinary user sees the permissions
		writeTestFile(t, filepath.Join(dir, "cgroup.procs"), "")
		os.Chmod(filepath.Join(dir, "cgroup.subtree_control"), 0o444)
		if m, why := rootlessCgroups(cfg); m.layout.version != 0 || !strings.Contains(why, "not delegated to you") {
			t.Errorf("not delegated: version %d, why %q", m.layout.version, why)
		}
	}

	root1, mi1 := fakeCgroupMounts(t, []string{"cgroup:memory:rw,memory", "cgroup:pids:rw,pids"}, nil)
	writeTestFile(t, filepath.Join(root1, "mountinfo"), string(mi1))
	cfg.mountinfo = filepath.Join(root1, "mountinfo")
	m, why = rootlessCgroups(cfg)
	if m.layout.version != 0 || !strings.Contains(why, "cgroup v1") {
		t.Errorf("v1: version %d, why %q", m.layout.version, why)
	}
	c, err := m.create("c2", Limits{Memory: 1 << 20})
	if err != nil || len(c.dirs) != 0 {
		t.Fatalf("no cgroup: create %v %v", c, err)
	}
	if _, ok := c.fd(); ok || c.addProc(1) != nil || c.kill() != nil || c.destroy() != nil {
		t.Error("a container without a cgroup must need no cgroup operation")
	}
}
