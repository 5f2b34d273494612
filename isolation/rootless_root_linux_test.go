package isolation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipe-run/pipe/internal/testuser"
)

// The rootless suites: as root, TestRootless makes an ordinary user and runs
// a copy of this test binary as that user with PIPE_TEST_ROOTLESS=1, which
// enters pipe's user namespace (TestMain) and runs the root suites below,
// rootless (newTestRuntime passes CurrentUserNS), plus the TestRootlessIn*
// tests, which run only there.

// rootlessSuite are the root tests that hold rootless as they are. Left
// out: the cgroup manager's own tests and the limit tests (on this host's
// cgroup v1 nothing is delegated to a user: TestRootlessInNoLimits checks
// what pipe says instead), and the killed-pipe cleanup, which finds the
// killed pipe's cgroups.
var rootlessSuite = []string{
	"TestSmoke", "TestPrivileges", "TestSeccompBlocks", "TestProcSysProtected", "TestMountsInvisibleOnHost",
	"TestHostileImages", "TestVolatileOverlay", "TestNetwork", "TestPIDNamespace", "TestHostname",
	"TestExitCodesAndSignals", "TestEnvDirUser", "TestNoFdLeak", "TestRlimits", "TestCancel",
	"TestTimeoutKillsEverything", "TestStdin", "TestCommandNotFound", "TestConcurrentContainers",
	"TestExecKeepAlive", "TestExecWhileRunning", "TestTTY", "TestMounts", "TestRootUpper",
	"TestSeccompBlocksKeyctl", "TestSeccompFilterBlocks", "TestSeccompNeedsNoNewPrivs", "TestCaps.*",
	"TestRootlessIn.*",
}

// singleSuite runs with a single-id map (a user without subordinate ids,
// or no_new_privs): the tests that need no other user.
var singleSuite = []string{
	"TestSmoke", "TestMountsInvisibleOnHost", "TestHostileImages", "TestPIDNamespace",
	"TestMounts", "TestTTY", "TestRootlessIn.*",
}

func TestRootless(t *testing.T) {
	needsRoot(t)
	if os.Getenv(rootlessTestEnv) == "1" {
		t.Skip("the suite's inner run")
	}
	for _, c := range []struct {
		name       string
		sub, nnp   bool
		tests      []string
		wantWarned string
	}{
		{"subids", true, false, rootlessSuite, ""},
		{"no-subids", false, false, singleSuite, "has no subordinate ids"},
		{"no-new-privs", true, true, singleSuite, "no_new_privs is set"},
	} {
		t.Run(c.name, func(t *testing.T) {
			u := testuser.New(t, c.sub)
			bin := u.CopyExecutable(t, "isolation.test")
			cmd := u.Command(c.nnp, []string{rootlessTestEnv + "=1", "PIPE_TEST_ROOT=1"}, bin,
				"-test.run=^("+strings.Join(c.tests, "|")+")$", "-test.count=1", "-test.v")
			out, err := cmd.CombinedOutput()
			log := string(out)
			if err != nil || strings.Contains(log, "--- FAIL") || !strings.Contains(log, "\nPASS\n") {
				t.Fatalf("rootless suite as %s: %v\n%s", u.Name, err, failures(log))
			}
			for _, name := range []string{"TestSmoke", "TestRootlessInIdentity"} {
				if !strings.Contains(log, "--- PASS: "+name+" ") {
					t.Errorf("%s did not pass in the rootless run:\n%s", name, failures(log))
				}
			}
			single := strings.Contains(log, "single-uid mode")
			if single != (c.wantWarned != "") || !strings.Contains(log, c.wantWarned) {
				t.Errorf("single-uid warning: got %v, want one containing %q:\n%s", single, c.wantWarned, failures(log))
			}
		})
	}
}

// failures keeps the lines of a test log worth reading, bounded.
func failures(log string) string {
	var keep []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "FAIL") || strings.Contains(l, "_test.go:") || strings.Contains(l, "warning") ||
			strings.Contains(l, "rootless") || strings.HasPrefix(l, "panic") {
			if len(l) > 400 {
				l = l[:400] + "…"
			}
			keep = append(keep, l)
		}
	}
	if len(keep) > 60 {
		keep = keep[len(keep)-60:]
	}
	return strings.Join(keep, "\n")
}

// needsRootlessInside skips outside pipe's user namespace: TestRootless
// runs these tests as an ordinary user.
func needsRootlessInside(t *testing.T) *UserNS {
	t.Helper()
	u := CurrentUserNS()
	if u == nil {
		t.Skip("runs as an ordinary user in pipe's user namespace: TestRootless runs it")
	}
	needsRoot(t)
	return u
}

// In pipe's user namespace the process is uid 0 with every capability,
// and containers see the namespace's map: the user is root, the
// subordinate ids are 1 and up.
func TestRootlessInIdentity(t *testing.T) {
	u := needsRootlessInside(t)
	if os.Geteuid() != 0 {
		t.Fatalf("euid %d in the user namespace, want 0", os.Geteuid())
	}
	b, _ := os.ReadFile("/proc/self/status")
	if !strings.Contains(string(b), "\nCapEff:\t") || strings.Contains(string(b), "\nCapEff:\t0000000000000000") {
		t.Errorf("pipe has not every capability in its namespace:\n%s", b)
	}
	r := newTestRuntime(t)
	want := fmt.Sprintf("0 %d 1", u.UID)
	if !u.Single() {
		want += fmt.Sprintf("\n1 %d %d", u.SubUIDs[0].Host, u.SubUIDs[0].Count)
	}
	got := sh(t, r, "while read a b c; do echo $a $b $c; done </proc/self/uid_map; id -u")
	if got != want+"\n0\n" {
		t.Errorf("uid_map and id in a container:\n%s\nwant:\n%s\n0", got, want)
	}
	s := busybox(t, "/bin/sh", "-c", "id -u")
	s.Process.User = "builder"
	if u.Single() {
		_, err := r.Run(context.Background(), s)
		if err == nil || !strings.Contains(err.Error(), "single-uid mode") {
			t.Errorf("user builder in single-uid mode: %v, want the single-uid error", err)
		}
		return
	}
	if _, out := run(t, r, s); out != "1000\n" {
		t.Errorf("user builder: id -u = %q", out)
	}
	if out := sh(t, r, "touch /tmp/f && chown 1000:100 /tmp/f && stat -c %u:%g /tmp/f"); out != "1000:100\n" {
		t.Errorf("chown in a container: %q", out)
	}
}

// Root of the user namespace is nobody to the host: a container given the
// host's /etc read-write can read only what anyone may, and write nothing;
// host files show as the overflow id.
func TestRootlessInHostFiles(t *testing.T) {
	needsRootlessInside(t)
	r := newTestRuntime(t)
	s := busybox(t, "/bin/sh", "-c", `
		stat -c %u /host/etc/passwd
		if cat /host/etc/shadow >/dev/null 2>&1; then echo read-shadow; fi
		if touch /host/etc/pipe-rootless-probe 2>/dev/null; then echo wrote-etc; fi
		if (echo x >>/host/etc/passwd) 2>/dev/null; then echo wrote-passwd; fi
		if chmod 777 /host/etc 2>/dev/null; then echo chmod-etc; fi
		echo done`)
	s.Mounts = []Mount{{Type: MountBind, Source: "/etc", Target: "/host/etc"}}
	_, out := run(t, r, s)
	if out != "65534\ndone\n" {
		t.Errorf("a rootless container with the host's /etc:\n%s\nwant only the overflow owner 65534 and done", out)
	}
	if _, err := os.Stat("/etc/pipe-rootless-probe"); err == nil {
		t.Error("a rootless container created a file in the host's /etc")
	}
}

// Without a delegated cgroup, limits are not applied: the runtime says so
// once, and StrictLimits refuses the container instead.
func TestRootlessInNoLimits(t *testing.T) {
	needsRootlessInside(t)
	var mu sync.Mutex
	var warned []string
	state := t.TempDir()
	r, err := New(Options{StateDir: state, CgroupParent: testCgroupParent, UserNS: CurrentUserNS(),
		Warn: func(m string) { mu.Lock(); warned = append(warned, m); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.noCgroupWhy == "" {
		t.Skip("a cgroup is delegated here: the limit tests run instead")
	}
	for i := 0; i < 2; i++ {
		s := busybox(t, "/bin/true")
		s.ID = fmt.Sprintf("%s-%d", s.ID, i)
		s.Limits = Limits{Memory: 64 << 20, Pids: 100}
		if res, _ := run(t, r, s); res.ExitCode != 0 {
			t.Fatalf("exit %d", res.ExitCode)
		}
	}
	if len(warned) != 1 || !strings.Contains(warned[0], "NOT applied") || !strings.Contains(warned[0], "memory 64 MiB") ||
		!strings.Contains(warned[0], "Delegate=yes") {
		t.Errorf("warnings %q: want one naming the limits, why and how to enable them", warned)
	}
	strict, err := New(Options{StateDir: t.TempDir(), CgroupParent: testCgroupParent, UserNS: CurrentUserNS(), StrictLimits: true})
	if err != nil {
		t.Fatal(err)
	}
	defer strict.Close()
	s := busybox(t, "/bin/true")
	s.Limits.CPUs = 0.5
	_, err = strict.Start(context.Background(), s)
	var le *LimitsError
	if !errors.As(err, &le) || le.Limits[0] != "cpus 0.5" {
		t.Fatalf("StrictLimits: %v, want a LimitsError naming cpus 0.5", err)
	}
	s.Limits = Limits{}
	if res, _ := run(t, strict, s); res.ExitCode != 0 {
		t.Errorf("StrictLimits, no limits asked: exit %d", res.ExitCode)
	}
}

// A container dies with its rootless pipe even without a cgroup: pipe
// SIGKILLed takes the user namespace's processes with it (Pdeathsig), and
// the next pipe's state dir holds nothing live.
func TestRootlessInKilledPipe(t *testing.T) {
	needsRootlessInside(t)
	if os.Getenv(helperStateEnv) != "" {
		t.Skip("helper")
	}
	state := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledPipeHelper$", "-test.v")
	cmd.Env = append(os.Environ(), helperStateEnv+"="+state, testCgroupParentEnv+"="+testCgroupParent)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForLine(t, stdout, "ready")
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for len(hostProcesses("sleep\x004321")) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if pids := hostProcesses("sleep\x004321"); len(pids) > 0 {
		t.Errorf("the container's process survived its killed pipe: %v", pids)
	}
	r, err := New(Options{StateDir: state, CgroupParent: testCgroupParent, UserNS: CurrentUserNS()})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	// The killed pipe's scratch tmpfs was in its mount namespace; nothing is mounted here.
	if left, _ := filepath.Glob(filepath.Join(state, "containers", "*")); len(left) != 0 {
		t.Errorf("left in the state dir after cleanup: %v", left)
	}
}
