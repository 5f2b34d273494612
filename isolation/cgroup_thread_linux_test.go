package isolation

import (
	"os"
	"path/filepath"
	"testing"
)

// selfDirV1 finds pipe's own cgroup in a v1 hierarchy from /proc/self/cgroup,
// also when the controller is co-mounted with others, and refuses paths it
// must not write to.
func TestSelfDirV1(t *testing.T) {
	tests := []struct {
		self, controller, want string
	}{
		{"12:pids:/user.slice\n11:cpu,cpuacct:/x\n0::/\n", "pids", "/sys/fs/cgroup/pids/user.slice"},
		{"11:cpu,cpuacct:/x/y\n", "cpuacct", "/sys/fs/cgroup/cpuacct/x/y"},
		{"1:name=systemd:/\n2:pids:/\n", "pids", "/sys/fs/cgroup/pids"},
		{"2:pids:relative\n", "pids", ""},
		{"2:pids:/a/../../etc\n", "pids", ""},
		{"2:memory:/a\n", "pids", ""},
		{"garbage", "pids", ""},
	}
	for _, tc := range tests {
		self := filepath.Join(t.TempDir(), "cgroup")
		if err := os.WriteFile(self, []byte(tc.self), 0o644); err != nil {
			t.Fatal(err)
		}
		m := &cgroupManager{selfCgroup: self, layout: cgroupLayout{version: 1, v1: map[string]string{
			"pids": "/sys/fs/cgroup/pids", "cpuacct": "/sys/fs/cgroup/cpuacct", "memory": "/sys/fs/cgroup/memory"}}}
		got, ok := m.selfDirV1(tc.controller)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%q, %s: %q, %v; want %q", tc.self, tc.controller, got, ok, tc.want)
		}
	}
}
