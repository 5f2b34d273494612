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

// A fork bomb stops at the pids limit, is killed at its timeout, and the
// host can still fork.
func TestPidsLimit(t *testing.T) {
	r := newTestRuntime(t)
	// The subshell dies when it cannot fork (ash does); the count uses shell
	// builtins only, as no fork is left for ls.
	s := busybox(t, "/bin/sh", "-c", `(i=0; while [ $i -lt 200 ]; do sleep 100 & i=$((i+1)); done) 2>/dev/null; echo /proc/[0-9]*`)
	s.Limits.Pids = 32
	res, out := run(t, r, s)
	if n := len(strings.Fields(out)); n > 32 || n < 10 {
		t.Errorf("%d processes in a container limited to 32 (exit %d): %s", n, res.ExitCode, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second+startSlack(t, r))
	defer cancel()
	s = busybox(t, "/bin/sh", "-c", `bomb() { bomb | bomb & }; bomb; sleep 100`)
	s.Limits.Pids = 64
	start := time.Now()
	res, err := r.Run(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	// The bomb ends with its timeout, or earlier when the shell at its top
	// cannot fork any more (ash exits 2 then); either way init survived to
	// report it (an error here would mean init died).
	if !res.TimedOut && res.ExitCode == 0 {
		t.Errorf("fork bomb: %+v, want timed out or failed", res)
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("fork bomb took %v to end", d)
	}
	if err := exec.Command("/bin/true").Run(); err != nil {
		t.Errorf("the host cannot fork after the bomb: %v", err)
	}
}

// Allocating beyond the memory limit ends in the OOM killer, reported.
func TestOOM(t *testing.T) {
	r := newTestRuntime(t)
	// tail keeps its whole input when it has no newline: 200 MiB in 32 MiB.
	s := busybox(t, "/bin/sh", "-c", "head -c 200m /dev/zero | tail; echo survived")
	s.Limits.Memory = 32 << 20
	res, out := run(t, r, s)
	if !res.OOMKilled {
		t.Errorf("got %+v (output %q), want OOMKilled", res, out)
	}
	if res.PeakMemory < 16<<20 || res.PeakMemory > 40<<20 {
		t.Errorf("peak memory %d, want about the 32 MiB limit", res.PeakMemory)
	}

	// The main process itself killed: exit 137.
	s = busybox(t, "/bin/sh", "-c", `x=0123456789abcdef; while true; do x="$x$x"; done`)
	s.Limits.Memory = 32 << 20
	res, out = run(t, r, s)
	if !res.OOMKilled || res.ExitCode != 137 || res.Signal != syscall.SIGKILL {
		t.Errorf("got %+v (output %q), want OOMKilled with SIGKILL", res, out)
	}
}

// CPU time and peak memory come back from the cgroup.
func TestAccounting(t *testing.T) {
	r := newTestRuntime(t)
	res, _ := run(t, r, busybox(t, "/bin/sh", "-c", `i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done`))
	if res.ExitCode != 0 || res.CPUTime < 50*time.Millisecond || res.PeakMemory <= 0 || res.WallTime < res.CPUTime/2 {
		t.Errorf("got %+v: want CPU time, peak memory and wall time", res)
	}
	if res.OOMKilled || res.TimedOut || res.Canceled {
		t.Errorf("got %+v", res)
	}
}

// The disk I/O limits of a container apply to the disk that holds
// Options.IODevicePath (pipe's store), in the container's own cgroup.
func TestIOLimitsOnStoreDisk(t *testing.T) {
	needsRoot(t)
	r, err := New(Options{StateDir: t.TempDir(), CgroupParent: testCgroupParent, IODevicePath: "/var/tmp", UserNS: CurrentUserNS()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dev := r.cg.device()
	if dev == "" {
		t.Fatal("no block device found for /var/tmp")
	}
	s := busybox(t, "/bin/sleep", "100")
	s.Limits.IOReadBPS, s.Limits.IOWriteBPS = 4<<20, 1<<20
	c, err := r.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	for file, want := range map[string]string{"read": fmt.Sprintf("%s %d", dev, 4<<20), "write": fmt.Sprintf("%s %d", dev, 1<<20)} {
		var b []byte
		if r.cg.Version() == 2 {
			// One line per device: "MAJ:MIN rbps=N wbps=N riops=max wiops=max".
			b, err = os.ReadFile(filepath.Join(c.cg.dirs["io"], "io.max"))
			key := map[string]string{"read": "rbps=", "write": "wbps="}[file]
			if f := strings.Fields(string(b)); len(f) > 0 && f[0] == dev {
				b = []byte(dev + " " + strings.TrimPrefix(fieldWithPrefix(f, key), key))
			}
		} else {
			b, err = os.ReadFile(filepath.Join(c.cg.dirs["blkio"], "blkio.throttle."+file+"_bps_device"))
		}
		if err != nil || !strings.Contains(string(b), want) {
			t.Errorf("%s limit: %q, %v; want it to contain %q", file, b, err, want)
		}
	}
}

// fieldWithPrefix returns the first of fields that starts with prefix.
func fieldWithPrefix(fields []string, prefix string) string {
	for _, f := range fields {
		if strings.HasPrefix(f, prefix) {
			return f
		}
	}
	return ""
}
