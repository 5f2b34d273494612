package podagent

import (
	"os"
	"path/filepath"
	"testing"
)

// writeCgroupFile writes body to root/rel, making its dirs.
func writeCgroupFile(t *testing.T, root, rel, body string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOOMKills(t *testing.T) {
	const v1Control = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"
	const v2Events = "low 0\nhigh 0\nmax 5\noom 2\noom_kill 2\noom_group_kill 0\n"
	for _, c := range []struct {
		name       string
		procCgroup string
		files      map[string]string // under Cgroup
		n          int64
		ok         bool
	}{
		{"v2 in a cgroup namespace", "0::/\n", map[string]string{"memory.events": v2Events}, 2, true},
		{"v2 by its path", "0::/kubepods/pod1/c1\n", map[string]string{"kubepods/pod1/c1/memory.events": v2Events, "memory.events": "oom_kill 9\n"}, 2, true},
		{"v1, host path not mounted", "12:memory:/kubepods/burstable/pod1/c1\n11:cpu,cpuacct:/kubepods/x\n", map[string]string{"memory/memory.oom_control": v1Control}, 3, true},
		{"v1 by its path", "4:memory:/kubepods/pod1/c1\n", map[string]string{"memory/kubepods/pod1/c1/memory.oom_control": v1Control, "memory/memory.oom_control": "oom_kill 9\n"}, 3, true},
		{"hybrid: v1 memory first", "4:memory:/\n0::/\n", map[string]string{"memory/memory.oom_control": v1Control, "memory.events": v2Events}, 3, true},
		{"v1 kernel without oom_kill", "4:memory:/\n", map[string]string{"memory/memory.oom_control": "oom_kill_disable 0\nunder_oom 0\n"}, 0, false},
		{"no cgroup mounted", "0::/\n", nil, 0, false},
		{"a path with ..", "0::/../../etc\n", map[string]string{"memory.events": v2Events}, 2, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			p := PathsUnder(root)
			writeCgroupFile(t, root, "proc-cgroup", c.procCgroup)
			for rel, body := range c.files {
				writeCgroupFile(t, root, filepath.Join("cgroup", rel), body)
			}
			if n, ok := p.oomKills(); n != c.n || ok != c.ok {
				t.Errorf("oomKills = %d %v, want %d %v", n, ok, c.n, c.ok)
			}
		})
	}
}
