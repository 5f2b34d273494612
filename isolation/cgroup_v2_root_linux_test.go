package isolation

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The v2 kill, stats and fd paths need no controllers: cgroup.kill,
// cgroup.freeze, cgroup.procs and cpu.stat exist in every cgroup2 cgroup. So
// these tests run them on the machine's cgroup2 mount, even the hybrid
// layout's empty /sys/fs/cgroup/unified, under a pipe-test parent.

// testV2Cgroup makes a bare cgroup in the real cgroup2 hierarchy (no limits:
// there may be no controllers) with its fd open, removed after the test.
func testV2Cgroup(t *testing.T) *cgroup {
	t.Helper()
	cgroupNeedsRoot(t)
	mnt := cgroup2Mount(t)
	parent := fmt.Sprintf("pipe-test-%d-%s", os.Getpid(), strings.ReplaceAll(t.Name(), "/", "-"))
	m := &cgroupManager{layout: cgroupLayout{version: 2, unified: mnt}, parent: parent}
	if err := os.Mkdir(filepath.Join(mnt, parent), 0o755); err != nil {
		t.Fatal(err)
	}
	c := m.cgroupFor("c")
	if err := c.mkdirs(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.destroy(); err != nil {
			t.Error(err)
		}
		if err := removeCgroupTree(filepath.Join(mnt, parent)); err != nil {
			t.Error(err)
		}
	})
	if err := c.openFD(); err != nil {
		t.Fatal(err)
	}
	return c
}

// cgroup2Mount is the first cgroup2 mount point of this machine.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range parseCgroupMounts(mi) {
		if m.fsType == "cgroup2" {
			return m.mountPoint
		}
	}
	// A machine with cgroup v1 only (the VM matrix's cgroup-v1 cell, systemd
	// in legacy mode) has no v2 to test: the cgroup-v2 cell runs these.
	t.Skip("no cgroup2 mount on this machine (cgroup v1 only)")
	return ""
}

// startIntoCgroup starts args directly inside c with CLONE_INTO_CGROUP.
func startIntoCgroup(t *testing.T, c *cgroup, args ...string) *exec.Cmd {
	t.Helper()
	fd, ok := c.fd()
	if !ok {
		t.Fatal("fd() = false on a v2 cgroup")
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = []string{"PATH=/bin"}
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.kill()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

const treeScript = `busybox sleep 600 &
busybox setsid busybox sh -c 'busybox sleep 600 & busybox sleep 600' &
trap '' TERM HUP INT
busybox sleep 600
echo never`

func TestCgroupV2CloneIntoCgroupAndKill(t *testing.T) {
	for _, byFreezing := range []bool{false, true} {
		t.Run(fmt.Sprintf("freeze=%v", byFreezing), func(t *testing.T) {
			c := testV2Cgroup(t)
			cmd := startIntoCgroup(t, c, "/bin/busybox", "sh", "-c", treeScript)
			own, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", cmd.Process.Pid))
			if err != nil {
				t.Fatal(err)
			}
			rel := strings.TrimPrefix(c.dirs["memory"], cgroup2Mount(t))
			if !strings.Contains(string(own), "0::"+rel+"\n") {
				t.Fatalf("child's cgroups:\n%s\nwant it born in %s", own, rel)
			}
			waitProcs(t, c, 5)
			if byFreezing {
				err = c.killV2ByFreezing()
			} else {
				err = c.kill()
			}
			if err != nil {
				t.Fatal(err)
			}
			assertEmpty(t, c)
			if err := cmd.Wait(); !killedBySIGKILL(err) {
				t.Errorf("shell ended with %v, want SIGKILL", err)
			}
		})
	}
}

func TestCgroupV2CPUTimeAndDestroy(t *testing.T) {
	c := testV2Cgroup(t)
	cmd := startIntoCgroup(t, c, "/bin/busybox", "sh", "-c",
		`i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done`)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	st, err := c.stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.CPUTime < 10*time.Millisecond {
		t.Errorf("CPUTime = %s after a busy loop", st.CPUTime)
	}
	if err := c.destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.dirs["memory"]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cgroup dir still there after destroy: %v", err)
	}
	if _, ok := c.fd(); ok {
		t.Error("fd() still open after destroy")
	}
}
