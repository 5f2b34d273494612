package isolation

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeV2 makes a fake cgroup2 tree in a temp dir: the mount root and the
// parent "pipe-test" with the files the kernel would show, given the
// controllers available at the root. It returns a manager over it.
func fakeV2(t *testing.T, controllers, self string) (*cgroupManager, string) {
	t.Helper()
	root, mi := fakeCgroupMounts(t, []string{"cgroup2:cg:rw,nsdelegate"}, map[string]string{"cg": controllers})
	mnt := filepath.Join(root, "cg")
	writeTestFile(t, filepath.Join(mnt, "cgroup.subtree_control"), "")
	parent := filepath.Join(mnt, "pipe-test")
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(parent, "cgroup.controllers"), controllers)
	writeTestFile(t, filepath.Join(parent, "cgroup.subtree_control"), "")
	for _, f := range []string{"memory.swap.max", "memory.oom.group", "memory.max"} {
		writeTestFile(t, filepath.Join(parent, f), "max\n")
	}
	writeTestFile(t, filepath.Join(root, "mountinfo"), string(mi))
	writeTestFile(t, filepath.Join(root, "self"), self)
	m, err := newCgroupManagerWith(cgroupConfig{
		parent:     "pipe-test",
		mountinfo:  filepath.Join(root, "mountinfo"),
		selfCgroup: filepath.Join(root, "self"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() != 2 {
		t.Fatalf("Version() = %d on a fake cgroup2 tree with %q", m.Version(), controllers)
	}
	return m, mnt
}

func readTestFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// destroyFake removes the files a fake child dir holds (the kernel's
// cannot be removed, so destroy does not try) and destroys the cgroup.
func destroyFake(t *testing.T, c *cgroup) {
	t.Helper()
	for _, dir := range c.distinctDirs() {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	if err := c.destroy(); err != nil {
		t.Fatal(err)
	}
	if err := c.destroy(); err != nil {
		t.Fatalf("second destroy: %v", err)
	}
}

func TestCgroupV2LimitFiles(t *testing.T) {
	m, mnt := fakeV2(t, "cpuset cpu io memory hugetlb pids rdma\n", "0::/init.scope\n")
	if err := m.setIODevice("254:0"); err != nil {
		t.Fatal(err)
	}
	c, err := m.create("c1", Limits{Memory: 64 << 20, CPUs: 1.5, IOReadBPS: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer destroyFake(t, c)
	dir := filepath.Join(mnt, "pipe-test", "c1")
	want := map[string]string{
		"memory.max":       "67108864",
		"memory.swap.max":  "0",
		"memory.oom.group": "1",
		"cpu.max":          "150000 100000",
		"pids.max":         "4096",
		"io.max":           "254:0 rbps=1048576 wbps=max",
	}
	for name, v := range want {
		if got := readTestFile(t, filepath.Join(dir, name)); got != v {
			t.Errorf("%s = %q, want %q", name, got, v)
		}
	}
	for _, lvl := range []string{mnt, filepath.Join(mnt, "pipe-test")} {
		got, err := readControllerSet(filepath.Join(lvl, "cgroup.subtree_control"))
		if err != nil {
			t.Fatal(err)
		}
		for _, ctrl := range v2Controllers {
			if !got[ctrl] {
				t.Errorf("%s/cgroup.subtree_control lacks %s: %v", lvl, ctrl, got)
			}
		}
	}
	if fd, ok := c.fd(); !ok || fd < 0 {
		t.Errorf("fd() = %d, %v on v2", fd, ok)
	}
	if len(c.warnings) != 0 || len(m.missingControllers()) != 0 {
		t.Errorf("warnings %q, missing %q; want none", c.warnings, m.missingControllers())
	}
}

func TestCgroupV2OptionalControllersMissing(t *testing.T) {
	m, mnt := fakeV2(t, "memory pids\n", "0::/\n")
	c, err := m.create("c2", Limits{CPUs: 2, IOWriteBPS: 5, Pids: 50})
	if err != nil {
		t.Fatalf("create must not fail for missing cpu/io: %v", err)
	}
	defer destroyFake(t, c)
	dir := filepath.Join(mnt, "pipe-test", "c2")
	if got := readTestFile(t, filepath.Join(dir, "pids.max")); got != "50" {
		t.Errorf("pids.max = %q", got)
	}
	for _, f := range []string{"cpu.max", "io.max", "memory.max", "memory.swap.max"} {
		if fileExists(filepath.Join(dir, f)) {
			t.Errorf("%s written though not asked or not available", f)
		}
	}
	if got := readTestFile(t, filepath.Join(dir, "memory.oom.group")); got != "1" {
		t.Errorf("memory.oom.group = %q, want 1 even without a memory limit", got)
	}
	if len(c.warnings) != 2 {
		t.Errorf("warnings = %q, want one for cpu and one for io", c.warnings)
	}
	if got := strings.Join(m.missingControllers(), ","); got != "cpu,io" {
		t.Errorf("missingControllers = %q, want cpu,io", got)
	}
}

func TestCgroupV2RequiredControllers(t *testing.T) {
	m, mnt := fakeV2(t, "memory cpu\n", "0::/\n")
	_, err := m.create("c3", Limits{})
	if err == nil || !strings.Contains(err.Error(), "pids") {
		t.Fatalf("create without pids: err = %v, want one naming pids", err)
	}
	// prepare failed, so no child dir was made
	if fileExists(filepath.Join(mnt, "pipe-test", "c3")) {
		t.Error("a failed create left its dir")
	}
}

func TestCgroupV2MemoryRequiredWhenLimited(t *testing.T) {
	m, mnt := fakeV2(t, "memory pids\n", "0::/\n")
	// The parent's subtree_control lost memory after prepare (another tool).
	ok, err := m.create("ok", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	destroyFake(t, ok)
	writeTestFile(t, filepath.Join(mnt, "pipe-test", "cgroup.subtree_control"), "pids")
	_, err = m.create("c4", Limits{Memory: 1 << 20})
	if err == nil || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("err = %v, want one about the memory controller", err)
	}
	if fileExists(filepath.Join(mnt, "pipe-test", "c4")) {
		t.Error("a failed create left its dir")
	}
}

func TestCgroupV2PipeInsideParent(t *testing.T) {
	m, _ := fakeV2(t, "memory pids\n", "0::/pipe-test/runner\n")
	_, err := m.create("c5", Limits{})
	if err == nil || !strings.Contains(err.Error(), "inside its own cgroup parent") {
		t.Fatalf("err = %v, want the no-internal-processes error", err)
	}
}

func TestCgroupV2ExistingIDIsAnError(t *testing.T) {
	m, mnt := fakeV2(t, "memory pids\n", "0::/\n")
	if err := os.Mkdir(filepath.Join(mnt, "pipe-test", "dup"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(mnt, "pipe-test", "dup", "keep"), "x")
	if _, err := m.create("dup", Limits{}); err == nil || !strings.Contains(err.Error(), "cleanup") {
		t.Fatalf("err = %v, want an error about an existing cgroup", err)
	}
	if !fileExists(filepath.Join(mnt, "pipe-test", "dup", "keep")) {
		t.Error("create removed a cgroup it did not make")
	}
}

func TestCgroupWholeDisk(t *testing.T) {
	sys := t.TempDir()
	disk := filepath.Join(sys, "devices", "virtual", "block", "sda")
	part := filepath.Join(disk, "sda1")
	if err := os.MkdirAll(part, 0o755); err != nil {
		t.Fatal(err)
	}
	writeTestFile(t, filepath.Join(disk, "dev"), "8:0\n")
	writeTestFile(t, filepath.Join(part, "dev"), "8:1\n")
	writeTestFile(t, filepath.Join(part, "partition"), "1\n")
	blk := filepath.Join(sys, "dev", "block")
	if err := os.MkdirAll(blk, 0o755); err != nil {
		t.Fatal(err)
	}
	for dev, target := range map[string]string{"8:0": disk, "8:1": part} {
		if err := os.Symlink(target, filepath.Join(blk, dev)); err != nil {
			t.Fatal(err)
		}
	}
	for dev, want := range map[string]string{"8:0": "8:0", "8:1": "8:0"} {
		got, err := wholeDisk(dev, sys, "/store")
		if err != nil || got != want {
			t.Errorf("wholeDisk(%s) = %q, %v; want %q", dev, got, err, want)
		}
	}
	if _, err := wholeDisk("0:45", sys, "/store"); err == nil || !strings.Contains(err.Error(), "not a block device") {
		t.Errorf("wholeDisk of a tmpfs device: err = %v", err)
	}
	if got, err := blockDeviceOf("/", "/sys"); err == nil {
		if _, _, perr := parseMajorMinor(got); perr != nil {
			t.Errorf("blockDeviceOf(/) = %q: %v", got, perr)
		}
	}
}
