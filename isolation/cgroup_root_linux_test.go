package isolation

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests use the machine's real cgroups (v1 here, v2 elsewhere) under a
// parent named pipe-test-<pid>-<test>, which they remove again. They start
// plain host processes, held at a "read" on stdin until addProc has moved
// them into the cgroup.

// cgroupNeedsRoot skips without PIPE_TEST_ROOT=1 and fails when it is set
// but the test cannot run.
func cgroupNeedsRoot(t *testing.T) {
	t.Helper()
	if os.Getenv("PIPE_TEST_ROOT") != "1" {
		t.Skip("needs root: set PIPE_TEST_ROOT=1")
	}
	if os.Geteuid() != 0 {
		t.Fatal("PIPE_TEST_ROOT=1 but not running as root")
	}
}

// testCgroupManager returns a manager over the real cgroups with a parent of
// its own, and removes that parent (in every hierarchy) after the test.
func testCgroupManager(t *testing.T) *cgroupManager {
	t.Helper()
	cgroupNeedsRoot(t)
	name := strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())
	parent := fmt.Sprintf("pipe-test-%d-%s", os.Getpid(), name)
	m, err := newCgroupManager(parent)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.cleanup(nil); err != nil {
			t.Error(err)
		}
		for _, dir := range m.parentDirs() {
			if err := removeCgroupTree(dir); err != nil {
				t.Error(err)
			}
		}
		if left, _ := filepath.Glob("/sys/fs/cgroup/*/" + parent); len(left) > 0 {
			t.Errorf("left behind: %v", left)
		}
		if left, _ := filepath.Glob("/sys/fs/cgroup/" + parent); len(left) > 0 {
			t.Errorf("left behind: %v", left)
		}
	})
	return m
}

// createTestCgroup creates a cgroup that is killed and destroyed after the
// test whatever happens.
func createTestCgroup(t *testing.T, m *cgroupManager, id string, l Limits) *cgroup {
	t.Helper()
	c, err := m.create(id, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.kill(); err != nil {
			t.Error(err)
		}
		if err := c.destroy(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// gatedProc is a host process started outside the cgroup, moved in with
// addProc, and then released. Its output goes to a file, so that waiting
// for it never waits for descendants that still hold a pipe.
type gatedProc struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	outPath string
	done    chan error
}

func startInCgroup(t *testing.T, c *cgroup, env []string, args ...string) *gatedProc {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = out, out
	p := &gatedProc{cmd: cmd, outPath: out.Name(), done: make(chan error, 1)}
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		c.kill() // the whole tree first: the process alone would leave its children
		cmd.Process.Kill()
		p.done <- <-p.done
	})
	if err := c.addProc(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(p.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *gatedProc) output() string {
	b, _ := os.ReadFile(p.outPath)
	return string(b)
}

// wait waits for the process's end, at most d.
func (p *gatedProc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(d):
		t.Fatalf("process %d still running after %s; output:\n%s", p.cmd.Process.Pid, d, p.output())
		return nil
	}
}

func killedBySIGKILL(err error) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL
}

// helperCmd re-executes the test binary as TestCgroupHelperProcess in mode.
func helperCmd(mode string) ([]string, []string) {
	return []string{os.Args[0], "-test.run=^TestCgroupHelperProcess$"}, []string{"PIPE_CGROUP_HELPER=" + mode}
}

// TestCgroupHelperProcess is not a test: it is the child process of the
// other tests. It waits for a line on stdin, then works as PIPE_CGROUP_HELPER says.
func TestCgroupHelperProcess(t *testing.T) {
	mode := os.Getenv("PIPE_CGROUP_HELPER")
	if mode == "" {
		return
	}
	bufio.NewReader(os.Stdin).ReadString('\n')
	switch mode {
	case "alloc": // grow without bound: the memory limit must stop it
		var keep [][]byte
		for {
			keep = append(keep, touch(make([]byte, 1<<20)))
		}
	case "work": // 64 MiB touched and 200ms of CPU time (not wall time: the machine may be busy), then exit 0
		keep := touch(make([]byte, 64<<20))
		for n := 0; cpuTimeSelf() < 200*time.Millisecond; n++ {
			keep[n%len(keep)]++
		}
	}
	os.Exit(0)
}

func cpuTimeSelf() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func touch(b []byte) []byte {
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return b
}

func TestCgroupVersionHere(t *testing.T) {
	m := testCgroupManager(t)
	want := 1
	if hasController("/sys/fs/cgroup", "memory") {
		want = 2
	}
	if m.Version() != want {
		t.Errorf("Version() = %d, want %d", m.Version(), want)
	}
}

func TestCgroupOOMKill(t *testing.T) {
	m := testCgroupManager(t)
	c := createTestCgroup(t, m, "oom", Limits{Memory: 48 << 20})
	args, env := helperCmd("alloc")
	p := startInCgroup(t, c, env, args...)
	err := p.wait(t, 30*time.Second)
	if !killedBySIGKILL(err) {
		t.Fatalf("process ended with %v, want SIGKILL by the OOM killer; output:\n%s", err, p.output())
	}
	st, err := c.stats()
	if err != nil {
		t.Fatal(err)
	}
	if !st.OOMKilled {
		t.Error("stats().OOMKilled = false after an OOM kill")
	}
	// the kernel may charge a page or so past the limit before it reclaims
	if st.PeakMemory < 40<<20 || st.PeakMemory > 49<<20 {
		t.Errorf("PeakMemory = %d, want about the 48 MiB limit", st.PeakMemory)
	}
}

func TestCgroupNoOOMWithoutPressure(t *testing.T) {
	m := testCgroupManager(t)
	c := createTestCgroup(t, m, "calm", Limits{Memory: 256 << 20})
	p := startInCgroup(t, c, nil, "/bin/busybox", "sh", "-c", "read _; exit 0")
	if err := p.wait(t, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if st, err := c.stats(); err != nil || st.OOMKilled {
		t.Errorf("stats() = %+v, %v; want no OOM", st, err)
	}
}

func TestCgroupStatsAfterWork(t *testing.T) {
	m := testCgroupManager(t)
	c := createTestCgroup(t, m, "work", Limits{Memory: 512 << 20, CPUs: 1})
	args, env := helperCmd("work")
	p := startInCgroup(t, c, env, args...)
	if err := p.wait(t, 30*time.Second); err != nil {
		t.Fatalf("helper: %v\n%s", err, p.output())
	}
	st, err := c.stats()
	if err != nil {
		t.Fatal(err)
	}
	// cpuacct and getrusage account slightly differently: allow some slack
	if st.CPUTime < 150*time.Millisecond {
		t.Errorf("CPUTime = %s after 200ms of CPU work", st.CPUTime)
	}
	if st.PeakMemory < 64<<20 {
		t.Errorf("PeakMemory = %d after touching 64 MiB", st.PeakMemory)
	}
	if st.OOMKilled {
		t.Error("OOMKilled without an OOM")
	}
}

// forkBomb is bounded (2^11 processes at most), each sleeping, so the pids
// limit is what stops it.
const forkBomb = `read _; f(){ [ $1 -gt 0 ] && { f $(($1-1)) | f $(($1-1)) & }; exec busybox sleep 60; }; f 10`

func TestCgroupPidsLimitStopsForkBomb(t *testing.T) {
	m := testCgroupManager(t)
	c := createTestCgroup(t, m, "bomb", Limits{Pids: 32})
	startInCgroup(t, c, []string{"PATH=/bin"}, "/bin/busybox", "sh", "-c", forkBomb)
	dir := c.dirs["pids"]
	deadline := time.Now().Add(15 * time.Second)
	for {
		ev, _ := readKeyed(filepath.Join(dir, "pids.events"))
		if ev["max"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pids.events max never rose: the fork bomb was not stopped by pids.max")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cur, err := readInt(filepath.Join(dir, "pids.current"))
	if err != nil || cur > 32 {
		t.Errorf("pids.current = %d (%v), want <= 32", cur, err)
	}
	if err := c.kill(); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, c)
}

func assertEmpty(t *testing.T, c *cgroup) {
	t.Helper()
	if pids, err := c.procs(); err != nil || len(pids) > 0 {
		t.Fatalf("cgroup still holds %v (%v)", pids, err)
	}
}

func TestCgroupKillTree(t *testing.T) {
	m := testCgroupManager(t)
	c := createTestCgroup(t, m, "tree", Limits{})
	script := `read _
busybox sleep 600 &
busybox setsid busybox sh -c 'busybox sleep 600 & busybox sleep 600' &
trap '' TERM HUP INT
busybox sleep 600
echo never`
	p := startInCgroup(t, c, []string{"PATH=/bin"}, "/bin/busybox", "sh", "-c", script)
	waitProcs(t, c, 5) // sh, sleep, setsid sh (exec'd into its last sleep) and its sleep, sleep
	pids, _ := c.procs()
	if err := c.kill(); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, c)
	if err := p.wait(t, 5*time.Second); !killedBySIGKILL(err) {
		t.Errorf("shell ended with %v, want SIGKILL", err)
	}
	// A killed process leaves its cgroup before it is a zombie (exit_notify
	// comes after cgroup_exit): on a slow machine (qemu TCG) it can still be
	// seen dying after kill returned, so each gets a generous moment.
	for _, pid := range pids {
		if !becomesDead(pid, 30*time.Second) {
			t.Errorf("process %s survived kill", describeProc(pid))
		}
	}
}

// becomesDead waits until pid is gone or a zombie.
func becomesDead(pid int, limit time.Duration) bool {
	for deadline := time.Now().Add(limit); ; time.Sleep(10 * time.Millisecond) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil || strings.Contains(string(b), ") Z") || strings.Contains(string(b), ") X") {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// waitProcs waits until the cgroup holds at least n processes.
func waitProcs(t *testing.T, c *cgroup, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		pids, err := c.procs()
		if err == nil && len(pids) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cgroup holds %v (%v), want at least %d processes", pids, err, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCgroupDestroyLeavesNothing(t *testing.T) {
	m := testCgroupManager(t)
	c, err := m.create("gone", Limits{Memory: 64 << 20, CPUs: 0.5, Pids: 10})
	if err != nil {
		t.Fatal(err)
	}
	startInCgroup(t, c, nil, "/bin/busybox", "sh", "-c", "read _; exec busybox sleep 600")
	waitProcs(t, c, 1)
	// destroy kills what is left, then removes every dir
	if err := c.destroy(); err != nil {
		t.Fatal(err)
	}
	for _, dir := range c.distinctDirs() {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after destroy (%v)", dir, err)
		}
	}
	if err := c.destroy(); err != nil {
		t.Errorf("second destroy: %v", err)
	}
	if fd, ok := c.fd(); ok {
		t.Errorf("fd() = %d after destroy", fd)
	}
}

func TestCgroupCleanupRemovesStale(t *testing.T) {
	m := testCgroupManager(t)
	live := createTestCgroup(t, m, "live", Limits{})
	stale, err := m.create("stale", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	p := startInCgroup(t, stale, nil, "/bin/busybox", "sh", "-c", "read _; exec busybox sleep 600")
	waitProcs(t, stale, 1)
	if _, err := m.create("stale-empty", Limits{}); err != nil {
		t.Fatal(err)
	}
	if err := m.cleanup(func(id string) bool { return id == "live" }); err != nil {
		t.Fatal(err)
	}
	if err := p.wait(t, 5*time.Second); !killedBySIGKILL(err) {
		t.Errorf("process in a stale cgroup ended with %v, want SIGKILL", err)
	}
	for _, id := range []string{"stale", "stale-empty"} {
		for _, dir := range m.cgroupFor(id).distinctDirs() {
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("stale %s still there (%v)", dir, err)
			}
		}
	}
	for _, dir := range live.distinctDirs() {
		if _, err := os.Stat(dir); err != nil {
			t.Errorf("live cgroup removed: %v", err)
		}
	}
}

func TestCgroupLimitFilesHere(t *testing.T) {
	m := testCgroupManager(t)
	dev, err := blockDeviceOf(t.TempDir(), "/sys")
	if err != nil {
		t.Fatalf("the test dir must be on a block device here: %v", err)
	}
	if err := m.setIODevice(dev); err != nil {
		t.Fatal(err)
	}
	c := createTestCgroup(t, m, "limits", Limits{Memory: 96 << 20, CPUs: 1.5, Pids: 77,
		IOReadBPS: 1 << 20, IOWriteBPS: 2 << 20})
	if len(c.warnings) > 0 {
		t.Logf("warnings: %q", c.warnings)
	}
	var want map[string]string
	if m.Version() == 2 {
		want = map[string]string{"memory/memory.max": "100663296", "pids/pids.max": "77",
			"cpu/cpu.max": "150000 100000", "io/io.max": dev + " rbps=1048576 wbps=2097152"}
	} else {
		want = map[string]string{"memory/memory.limit_in_bytes": "100663296", "pids/pids.max": "77",
			"cpu/cpu.cfs_quota_us": "150000", "cpu/cpu.cfs_period_us": "100000",
			"blkio/blkio.throttle.read_bps_device":  dev + " 1048576",
			"blkio/blkio.throttle.write_bps_device": dev + " 2097152"}
		if fileExists(filepath.Join(c.dirs["memory"], "memory.memsw.limit_in_bytes")) {
			want["memory/memory.memsw.limit_in_bytes"] = "100663296"
		}
	}
	for key, v := range want {
		ctrl, file, _ := strings.Cut(key, "/")
		got, err := os.ReadFile(filepath.Join(c.dirs[ctrl], file))
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		if strings.TrimSpace(string(got)) != v && !strings.Contains(string(got), v) {
			t.Errorf("%s = %q, want %q", key, got, v)
		}
	}
	if _, err := strconv.Atoi(strings.Split(dev, ":")[0]); err != nil {
		t.Errorf("device %q", dev)
	}
}
