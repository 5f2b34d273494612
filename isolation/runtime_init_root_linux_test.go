package isolation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The small-init suite: TestSmallInit builds cmd/pipe-init and runs a copy
// of this test binary with smallInitEnv naming it, so that newTestRuntime
// gives it as Options.Init and the suite below runs with the small init
// instead of the test binary re-executed.
const smallInitEnv = "PIPE_TEST_INIT"

// prebuiltInitEnv names a cmd/pipe-init already built, for hosts without a
// Go toolchain (the VM cells).
const prebuiltInitEnv = "PIPE_TEST_INIT_BIN"

// smallInitSuite are the root tests of what the init itself does: run
// the step, drop privileges on every thread, seccomp, close fds, stay
// unwritable, reap, forward signals and exec.
var smallInitSuite = []string{
	"TestSmoke", "TestPrivileges", "TestSeccompBlocks", "TestSeccompBlocksKeyctl", "TestNoFdLeak",
	"TestInitBinaryUnwritable", "TestInitSealedOnEveryThread", "TestPIDNamespace", "TestExitCodesAndSignals",
	"TestCancel", "TestTimeoutKillsEverything", "TestStdin", "TestExecKeepAlive", "TestTTY", "TestMounts",
	"TestConcurrentContainers", "TestPrestart.*",
}

// testInit is the init binary newTestRuntime gives its Runtime: nil (the
// test binary re-executed) but in the small-init suite's inner run.
func testInit(t testing.TB) []byte {
	p := os.Getenv(smallInitEnv)
	if p == "" {
		return nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%s: %v", smallInitEnv, err)
	}
	return b
}

// buildSmallInit builds cmd/pipe-init as make build does, or takes the
// one prebuiltInitEnv names.
func buildSmallInit(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(prebuiltInitEnv); p != "" {
		return p
	}
	out := filepath.Join(t.TempDir(), "pipe-init")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "github.com/pipe-run/pipe/cmd/pipe-init")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build cmd/pipe-init (set %s to a built one where there is no Go toolchain): %v\n%s", prebuiltInitEnv, err, b)
	}
	return out
}

// smallInitKeyEnv, set in the suite's inner run, gives newTestRuntime's
// Runtime an InitKey too, so that its init runs from the stored copy (as
// pipe's release build does) instead of a sealed memfd.
const smallInitKeyEnv = "PIPE_TEST_INIT_KEY"

// The suite passes with the small init both ways the Runtime reaches it: a
// sealed memfd copy per Runtime, and one stored copy per key.
func TestSmallInit(t *testing.T) {
	needsRoot(t)
	if os.Getenv(smallInitEnv) != "" {
		t.Skip("the suite's inner run")
	}
	bin := buildSmallInit(t)
	for _, way := range []string{"memfd", "stored"} {
		cmd := exec.Command(os.Args[0], "-test.run=^("+strings.Join(smallInitSuite, "|")+")$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), smallInitEnv+"="+bin)
		if way == "stored" {
			cmd.Env = append(cmd.Env, smallInitKeyEnv+"=1")
		}
		out, err := cmd.CombinedOutput()
		log := string(out)
		if err != nil || strings.Contains(log, "--- FAIL") || !strings.Contains(log, "\nPASS\n") {
			t.Fatalf("small-init suite (%s): %v\n%s", way, err, failures(log))
		}
		for _, name := range []string{"TestSmoke", "TestPrivileges", "TestNoFdLeak", "TestInitBinaryUnwritable", "TestInitSealedOnEveryThread"} {
			if !strings.Contains(log, "--- PASS: "+name+" ") {
				t.Errorf("%s did not pass with the small init (%s):\n%s", name, way, failures(log))
			}
		}
	}
}

// testInitKey is the InitKey newTestRuntime gives with init (see
// smallInitKeyEnv): a digest of its bytes, or "".
func testInitKey(init []byte) string {
	if init == nil || os.Getenv(smallInitKeyEnv) == "" {
		return ""
	}
	return fmt.Sprintf("test-%x", sha256.Sum256(init))[:37]
}

// A container's init runs from the Runtime's sealed handle, and once it
// runs the step every one of its threads has the container's capabilities,
// no_new_privs and the seccomp filter. With Options.Init the handle is a
// memfd sealed against any change.
func TestInitSealedOnEveryThread(t *testing.T) {
	r := newTestRuntime(t)
	s := busybox(t, "/bin/sleep", "1000")
	s.KeepAlive = true
	c, err := r.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	pid := c.initPid()
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("init runs from %s", exe)
	switch {
	case r.opts.Init != nil && r.opts.InitKey != "":
		checkStoredInit(t, r, exe)
	case r.opts.Init != nil:
		checkSealedMemfd(t, r.exe, exe)
	}
	caps := wantCapMask(t)
	want := fmt.Sprintf("CapInh:\t%s\nCapPrm:\t%s\nCapEff:\t%s\nCapBnd:\t%s\nNoNewPrivs:\t1\nSeccomp:\t2\n", caps, caps, caps, caps)
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if len(tasks) < 2 {
		t.Fatalf("init has %d threads", len(tasks))
	}
	for _, task := range tasks {
		if got := statusLines(t, task, "CapInh", "CapPrm", "CapEff", "CapBnd", "NoNewPrivs", "Seccomp"); got != want {
			t.Errorf("%s of init (%s):\n%s\nwant:\n%s", task, exe, got, want)
		}
	}
}

// checkStoredInit checks that the Runtime's handle on init is the stored
// copy of Options.Init under its key, reached through a read-only overlay,
// and that init runs from it (exe).
func checkStoredInit(t *testing.T, r *Runtime, exe string) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(r.exe.Fd()), &st); err != nil || st.Type != unix.OVERLAYFS_SUPER_MAGIC {
		t.Errorf("the handle on the stored init is not on overlayfs: %v, type %#x", err, st.Type)
	}
	if !strings.HasSuffix(exe, "/pipe-init") {
		t.Errorf("init runs from %s, want the stored copy", exe)
	}
	stored, err := os.ReadFile(filepath.Join(r.opts.StateDir, "init", r.opts.InitKey, "pipe-init"))
	if err != nil || !bytes.Equal(stored, r.opts.Init) {
		t.Errorf("the stored init is not Options.Init: %v", err)
	}
	if w, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", r.exe.Fd()), os.O_WRONLY, 0); err == nil {
		w.Close()
		t.Error("opened the handle on the stored init for writing")
	}
}

// checkSealedMemfd checks that f, the Runtime's handle on init, is a
// read-only memfd with every seal, and that init runs from it (exe).
func checkSealedMemfd(t *testing.T, f *os.File, exe string) {
	t.Helper()
	if !strings.HasPrefix(exe, "/memfd:pipe-init") {
		t.Errorf("init runs from %s, want the memfd", exe)
	}
	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	want := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if err != nil || seals&want != want {
		t.Errorf("the init memfd's seals: %#x, %v; want %#x", seals, err, want)
	}
	if fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0); err != nil || fl&unix.O_ACCMODE != unix.O_RDONLY {
		t.Errorf("the init memfd is open %#x (%v), want read-only", fl, err)
	}
	if f.Fd() < minExeFD {
		t.Errorf("the init memfd is fd %d, want at least %d", f.Fd(), minExeFD)
	}
}

// statusLines are the named lines of a /proc status file, in its order.
func statusLines(t *testing.T, path string, names ...string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		for _, n := range names {
			if strings.HasPrefix(l, n+":") {
				out.WriteString(l + "\n")
			}
		}
	}
	return out.String()
}

// An init that is no ELF executable is refused by New, clearly; one that
// is an executable but not pipe's init (or is cut short) fails Start with
// an error, never a hang.
func TestBadInit(t *testing.T) {
	needsRoot(t)
	good, err := os.ReadFile(buildSmallInit(t))
	if err != nil {
		t.Fatal(err)
	}
	trueBin, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		init  []byte
		atNew bool
	}{
		{"empty", []byte{}, true},
		{"text", []byte("#!/bin/sh\necho not an init\n"), true},
		{"truncated", good[:len(good)/2], false},
		{"not-init", trueBin, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := New(Options{StateDir: t.TempDir(), CgroupParent: testCgroupParent, UserNS: CurrentUserNS(), Init: c.init})
			if c.atNew {
				if err == nil || !strings.Contains(err.Error(), "not an ELF executable") {
					t.Fatalf("New with a %s init: %v, want an error that says it is not an ELF executable", c.name, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			checkStartFails(t, r)
		})
	}
}

// checkStartFails runs a container, which must fail within a minute.
func checkStartFails(t *testing.T, r *Runtime) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(context.Background(), busybox(t, "/bin/true"))
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "init") {
			t.Fatalf("Run with a bad init: %v, want an error about init", err)
		}
		t.Log(err)
	case <-time.After(time.Minute):
		t.Fatal("Run with a bad init hangs")
	}
}
