package isolation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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

// No process, not even root on the host, can write the binary a
// container's init runs from (CVE-2019-5736): neither through the init's
// /proc/<pid>/exe nor through the Runtime's own handle, and the binary on
// disk stays as it was.
func TestInitBinaryUnwritable(t *testing.T) {
	r := newTestRuntime(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	s := busybox(t, "/bin/sleep", "1000")
	s.KeepAlive = true
	c, err := r.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	for _, p := range []string{fmt.Sprintf("/proc/%d/exe", c.cmd.Process.Pid), fmt.Sprintf("/proc/self/fd/%d", r.exe.Fd())} {
		f, err := os.OpenFile(p, os.O_WRONLY, 0)
		if err != nil {
			continue // EROFS (overlay), ETXTBSY (being executed)
		}
		_, werr := f.WriteAt([]byte("pwned"), 0)
		f.Close()
		if werr == nil {
			t.Errorf("wrote to the init's binary through %s", p)
		}
	}
	after, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("the test binary on disk changed")
	}
}

// The init binary is reached without a copy where overlayfs allows it,
// and as a sealed memfd copy otherwise; both run containers.
func TestSealedSelfBothWays(t *testing.T) {
	needsRoot(t)
	ov, err := overlaySelf(t.TempDir())
	if err != nil {
		t.Fatalf("overlay handle on the test binary: %v", err)
	}
	defer ov.Close()
	mem, err := memfdSelf()
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(ov.Fd()), &st); err != nil || st.Type != unix.OVERLAYFS_SUPER_MAGIC {
		t.Errorf("the overlay handle is not on overlayfs: %v, type %#x", err, st.Type)
	}
	for _, f := range []*os.File{ov, mem} {
		if err := sameBinary(f, "/proc/self/exe"); err != nil && f == ov {
			t.Errorf("%s: %v", f.Name(), err)
		}
		out, err := exec.Command(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), "-test.run=^$").CombinedOutput()
		if err != nil {
			t.Errorf("exec %s: %v: %s", f.Name(), err, out)
		}
	}
}

// The attack of CVE-2019-5736 writes the binary once nothing executes it
// any more. A file reached through the read-only overlay cannot be
// written then either, though the same file on disk can.
func TestOverlayHandleUnwritable(t *testing.T) {
	needsRoot(t)
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "pipe")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := openReadOnly(bin, filepath.Join(dir, "empty"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	via := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	for _, flag := range []int{os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC, os.O_APPEND | os.O_WRONLY} {
		if w, err := os.OpenFile(via, flag, 0); err == nil {
			w.Close()
			t.Errorf("opened the overlay handle with flags %#x", flag)
		} else if !errors.Is(err, unix.EROFS) {
			t.Errorf("flags %#x: %v, want EROFS", flag, err)
		}
	}
	if err := unix.Fchmod(int(f.Fd()), 0o777); err == nil {
		t.Error("changed the mode through the overlay handle")
	}
	w, err := os.OpenFile(bin, os.O_WRONLY, 0) // the test can fail: the file itself is writable
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if b, _ := os.ReadFile(via); string(b) != "#!/bin/sh\n" {
		t.Errorf("read through the handle: %q", b)
	}
}
