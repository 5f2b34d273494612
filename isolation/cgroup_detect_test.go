package isolation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeCgroupMounts builds a fake /proc/self/mountinfo whose cgroup mounts
// are dirs in a temp dir. Each mount is "fstype:relative-dir:opts"; a
// cgroup2 mount's dir gets a cgroup.controllers holding ctrls[dir].
func fakeCgroupMounts(t *testing.T, mounts []string, ctrls map[string]string) (string, []byte) {
	t.Helper()
	root := t.TempDir()
	var b strings.Builder
	b.WriteString("22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n")
	b.WriteString("31 23 0:28 / " + root + " rw,relatime - tmpfs tmpfs rw,mode=755\n")
	for i, m := range mounts {
		parts := strings.SplitN(m, ":", 3)
		dir := filepath.Join(root, parts[1])
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if parts[0] == "cgroup2" {
			writeTestFile(t, filepath.Join(dir, "cgroup.controllers"), ctrls[parts[1]])
		}
		escaped := strings.ReplaceAll(dir, " ", `\040`)
		b.WriteString(strings.Join([]string{
			"4" + string(rune('0'+i)), "31", "0:3" + string(rune('0'+i)), "/", escaped,
			"rw,nosuid,nodev,noexec,relatime", "shared:9", "-", parts[0], parts[0], parts[2],
		}, " ") + "\n")
	}
	return root, []byte(b.String())
}

func writeTestFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCgroupDetectLayout(t *testing.T) {
	v1 := []string{
		"cgroup:memory:rw,memory",
		"cgroup:cpu,cpuacct:rw,cpu,cpuacct",
		"cgroup:pids:rw,pids",
		"cgroup:freezer:rw,freezer",
		"cgroup:blkio:rw,blkio",
		"cgroup:systemd:rw,xattr,name=systemd",
	}
	hybrid := []string{ // this machine: one hierarchy each, cgroup2 with nothing
		"cgroup:cpu:rw,cpu",
		"cgroup:cpuacct:rw,cpuacct",
		"cgroup:cpuset:rw,cpuset",
		"cgroup:memory:rw,memory",
		"cgroup:devices:rw,devices",
		"cgroup:freezer:rw,freezer",
		"cgroup:blkio:rw,blkio",
		"cgroup:pids:rw,pids",
		"cgroup:unified:rw,nsdelegate",
	}
	hybrid[len(hybrid)-1] = "cgroup2:unified:rw,nsdelegate"
	tests := []struct {
		name    string
		mounts  []string
		ctrls   map[string]string
		version int
		want    map[string]string // controller -> dir relative to root (v1) or "unified" -> dir (v2)
		wantErr string
	}{
		{name: "v1 co-mounted cpu,cpuacct", mounts: v1, version: 1, want: map[string]string{
			"memory": "memory", "cpu": "cpu,cpuacct", "cpuacct": "cpu,cpuacct", "pids": "pids",
			"freezer": "freezer", "blkio": "blkio",
		}},
		{name: "hybrid with empty unified", mounts: hybrid, ctrls: map[string]string{"unified": ""}, version: 1,
			want: map[string]string{"memory": "memory", "cpu": "cpu", "cpuacct": "cpuacct", "pids": "pids",
				"freezer": "freezer", "blkio": "blkio"}},
		{name: "hybrid with hugetlb in unified", mounts: hybrid, ctrls: map[string]string{"unified": "hugetlb\n"},
			version: 1, want: map[string]string{"memory": "memory", "cpu": "cpu"}},
		{name: "pure v2", mounts: []string{"cgroup2:.:rw,nsdelegate,memory_recursiveprot"},
			ctrls:   map[string]string{".": "cpuset cpu io memory hugetlb pids rdma misc\n"},
			version: 2, want: map[string]string{"unified": "."}},
		{name: "v2 mount point with a space", mounts: []string{"cgroup2:cg root:rw"},
			ctrls:   map[string]string{"cg root": "memory pids\n"},
			version: 2, want: map[string]string{"unified": "cg root"}},
		{name: "v1 without memory", mounts: []string{"cgroup:pids:rw,pids"}, wantErr: "memory controller"},
		{name: "nothing mounted", wantErr: "no usable cgroup hierarchy"},
		{name: "cgroup2 with no controllers only", mounts: []string{"cgroup2:unified:rw"},
			ctrls: map[string]string{"unified": ""}, wantErr: "no usable cgroup hierarchy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, mi := fakeCgroupMounts(t, tt.mounts, tt.ctrls)
			got, err := detectCgroupLayout(mi)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("detectCgroupLayout: err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.version != tt.version {
				t.Errorf("version = %d, want %d", got.version, tt.version)
			}
			for ctrl, rel := range tt.want {
				dir := got.v1[ctrl]
				if ctrl == "unified" {
					dir = got.unified
				}
				if want := filepath.Join(root, rel); dir != want {
					t.Errorf("%s at %q, want %q", ctrl, dir, want)
				}
			}
			if tt.version == 1 && got.v1["cpuset"] != "" {
				t.Errorf("cpuset should not be used, got %q", got.v1["cpuset"])
			}
		})
	}
}

func TestCgroupOwnCgroupV2(t *testing.T) {
	tests := map[string]string{
		"0::/\n":                                "/",
		"12:pids:/\n1:name=systemd:/x\n0::/a/b": "/a/b",
		"4:memory:/process_api/x\n":             "",
	}
	for in, want := range tests {
		if got := ownCgroupV2([]byte(in)); got != want {
			t.Errorf("ownCgroupV2(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCgroupValidNames(t *testing.T) {
	for _, p := range []string{"pipe", "ci/pipe", "pipe-test.1_x"} {
		if err := validCgroupParent(p); err != nil {
			t.Errorf("validCgroupParent(%q) = %v", p, err)
		}
	}
	for _, p := range []string{"", "/pipe", "a//b", "..", "a/../b", "a b", "pipe/"} {
		if err := validCgroupParent(p); err == nil {
			t.Errorf("validCgroupParent(%q) = nil, want an error", p)
		}
	}
	for _, id := range []string{"", ".", "..", "a/b", strings.Repeat("x", 129)} {
		if err := validCgroupID(id); err == nil {
			t.Errorf("validCgroupID(%q) = nil, want an error", id)
		}
	}
}

func TestCgroupCPUQuotaAndPids(t *testing.T) {
	if q := cpuQuota(1.5); q != 150000 {
		t.Errorf("cpuQuota(1.5) = %d", q)
	}
	if q := cpuQuota(0.001); q != minCFSQuota {
		t.Errorf("cpuQuota(0.001) = %d, want the kernel minimum", q)
	}
	if p := pidsLimit(Limits{}); p != defaultPidsLimit {
		t.Errorf("pidsLimit default = %d", p)
	}
	if p := pidsLimit(Limits{Pids: 7}); p != 7 {
		t.Errorf("pidsLimit(7) = %d", p)
	}
}
