package isolation

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
)

// wantCapMask is Podman's default set as a bit mask, computed from the
// capability numbers: 0x00000000800405fb for its 11 capabilities.
func wantCapMask(t *testing.T) string {
	mask, err := capabilityMask(defaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	if mask != 0x800405fb {
		t.Fatalf("Podman's 11 default capabilities are 0x800405fb, got %#x", mask)
	}
	return fmt.Sprintf("%016x", mask)
}

// Every container process has exactly Podman's capabilities, no_new_privs
// and a seccomp filter; a non-root user has no effective capabilities.
func TestPrivileges(t *testing.T) {
	r := newTestRuntime(t)
	caps := wantCapMask(t)
	script := `grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status`
	out := sh(t, r, script)
	want := fmt.Sprintf("CapInh:\t%s\nCapPrm:\t%s\nCapEff:\t%s\nCapBnd:\t%s\nCapAmb:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n", caps, caps, caps, caps)
	if out != want {
		t.Errorf("root in the container:\n%s\nwant:\n%s", out, want)
	}
	s := busybox(t, "/bin/sh", "-c", `grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status`)
	s.Process.User = "builder"
	_, out = run(t, r, s)
	want = fmt.Sprintf("CapEff:\t0000000000000000\nCapBnd:\t%s\nNoNewPrivs:\t1\n", caps)
	if out != want {
		t.Errorf("builder in the container:\n%s\nwant:\n%s", out, want)
	}
}

// The seccomp filter (and the missing CAP_SYS_ADMIN) stop namespace and
// mount syscalls.
func TestSeccompBlocks(t *testing.T) {
	r := newTestRuntime(t)
	for _, cmd := range []string{
		"unshare -m true", "unshare -U true", "unshare -n true",
		"mount -t tmpfs none /mnt", "mount -o remount,rw /sys",
		"nsenter -t 1 -m true",
	} {
		out := sh(t, r, "mkdir -p /mnt; if "+cmd+" 2>/dev/null; then echo allowed; else echo blocked; fi")
		if strings.TrimSpace(out) != "blocked" {
			t.Errorf("%q in a container: %s", cmd, out)
		}
	}
}

// /proc/sys, /proc/sysrq-trigger and /sys are read-only, and the masked
// paths show nothing.
func TestProcSysProtected(t *testing.T) {
	r := newTestRuntime(t)
	script := `for f in /proc/sysrq-trigger /proc/sys/vm/drop_caches /proc/sys/kernel/hostname /sys/kernel/uevent_helper /sys/x; do
			if (echo 1 > $f) 2>/dev/null; then echo "wrote $f"; fi
		done
		touch /sys/fs/x 2>/dev/null && echo "touched /sys"
		wc -c < /proc/keys; echo $(ls -A /proc/acpi) $(ls -A /sys/firmware) | wc -w
		grep -c ' /proc/sys ro,' /proc/self/mountinfo
		grep -c ' /sys ro,' /proc/self/mountinfo`
	out := sh(t, r, script)
	if out != "0\n0\n1\n1\n" {
		t.Errorf("got:\n%s", out)
	}
}

// Nothing the container mounts is seen on the host, while it runs or after.
func TestMountsInvisibleOnHost(t *testing.T) {
	r := newTestRuntime(t)
	s := busybox(t, "/bin/sleep", "1000")
	s.KeepAlive = true
	s.Mounts = []Mount{{Type: MountTmpfs, Target: "/scratchpad"}}
	c, err := r.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	inside, err := execOutput(c, "cat /proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(inside, " /scratchpad ") || !strings.Contains(inside, " / ") {
		t.Fatalf("mounts inside:\n%s", inside)
	}
	host, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(host), "\n") {
		if strings.Contains(l, c.name) || strings.Contains(l, "/scratchpad") || strings.Contains(l, "lowerdir+=") {
			t.Errorf("a container mount is visible on the host: %s", l)
		}
	}
}

// execOutput runs a shell script in c and returns its output.
func execOutput(c *Container, script string) (string, error) {
	var out lockedBuffer
	res, err := c.Exec(context.Background(), Process{Args: []string{"/bin/sh", "-c", script}, Stdout: &out, Stderr: &out})
	if err == nil && res.ExitCode != 0 {
		err = fmt.Errorf("exit %d: %s", res.ExitCode, out.String())
	}
	return out.String(), err
}
