package isolation

import (
	"strings"
	"testing"
)

// A container sees its own cgroup at /sys/fs/cgroup, read-only, with its
// limits in it (as Docker gives), on cgroup v2 and on v1: what Go's
// GOMAXPROCS, the JVM and Node size themselves by.
func TestContainerSeesItsOwnCgroup(t *testing.T) {
	r := newTestRuntime(t)
	script := `cat /proc/self/cgroup
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  echo "cpu=$(cat /sys/fs/cgroup/cpu.max) mem=$(cat /sys/fs/cgroup/memory.max) pids=$(cat /sys/fs/cgroup/pids.max)"
else
  echo "cpu=$(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us) mem=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes) pids=$(cat /sys/fs/cgroup/pids/pids.max)"
  echo "procs=$(cat /sys/fs/cgroup/memory/cgroup.procs | wc -l)"
fi
mkdir /sys/fs/cgroup/escape 2>/dev/null && echo WRITABLE
echo 1 > /sys/fs/cgroup/pids/pids.max 2>/dev/null && echo WRITABLE
echo 1 > /sys/fs/cgroup/pids.max 2>/dev/null && echo WRITABLE
true`
	s := busybox(t, "/bin/sh", "-c", script)
	s.Limits.CPUs, s.Limits.Memory, s.Limits.Pids = 1.5, 256<<20, 99
	res, out := run(t, r, s)
	if res.ExitCode != 0 {
		t.Fatalf("exit %d: %s", res.ExitCode, out)
	}
	if want := "cpu=150000 100000 mem=268435456 pids=99"; !strings.Contains(out, want) {
		t.Errorf("the container's /sys/fs/cgroup shows:\n%s\nwant %q", out, want)
	}
	if strings.Contains(out, "WRITABLE") {
		t.Errorf("/sys/fs/cgroup is writable in the container:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 && (f[1] == "" || f[1] == "memory") && f[2] != "/" {
			t.Errorf("/proc/self/cgroup says %q: want the cgroup namespace's root /", line)
		}
	}
}
