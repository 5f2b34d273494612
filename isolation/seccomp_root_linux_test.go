package isolation

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// privilegesNeedRoot skips without PIPE_TEST_ROOT=1 and fails when it is set
// but the test cannot run.
func privilegesNeedRoot(t *testing.T) {
	t.Helper()
	if os.Getenv("PIPE_TEST_ROOT") != "1" {
		t.Skip("needs root: set PIPE_TEST_ROOT=1")
	}
	if os.Geteuid() != 0 {
		t.Fatal("PIPE_TEST_ROOT=1 but not running as root")
	}
}

// runPrivilegesChild re-executes the test binary in a child mode (see
// runPrivilegesTestChild) and returns what it printed.
func runPrivilegesChild(t *testing.T, mode string) (map[string]string, error) {
	t.Helper()
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), privilegesChildEnv+"="+mode)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	if err != nil {
		t.Logf("child %s: %v; stderr:\n%s", mode, err, stderr.String())
		return nil, err
	}
	var out map[string]string
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("child %s printed %q: %v", mode, stdout.String(), err)
	}
	return out, nil
}

// TestSeccompFilterBlocks runs the filter on a child that keeps every
// capability, so the kernel would allow each blocked call (or fail it with
// another errno): the EPERMs come from the filter.
func TestSeccompFilterBlocks(t *testing.T) {
	privilegesNeedRoot(t)
	got, err := runPrivilegesChild(t, "seccomp")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"unshare":           "EPERM", // kernel: EINVAL (multi-threaded)
		"mount":             "EPERM", // kernel: ENOENT
		"keyctl":            "EPERM", // kernel: OK
		"add_key":           "EPERM", // kernel: EINVAL
		"kexec_load":        "EPERM", // kernel: EPERM or EINVAL; the filter is proven by the unit test
		"open_by_handle_at": "EPERM", // kernel: EBADF
		"bpf":               "EPERM", // kernel: EINVAL
		"setns":             "EPERM", // kernel: EBADF
		"clone_newns":       "EPERM", // kernel: EINVAL (CLONE_NEWNS|CLONE_FS)
		"clone_plain":       "EINVAL",
		"clone3":            "ENOSYS", // so libcs fall back to clone
		"ptrace":            "ESRCH",  // allowed by Docker's profile on kernels >= 4.8
		"unknown_syscall":   "EPERM",  // kernel: ENOSYS
		"personality_query": "OK",
		"personality_bsd":   "EPERM",
		"personality_32":    "OK",
		"personality_reset": "OK",
		"socket_inet":       "OK",
		"socket_unix":       "OK",
		"socket_vsock":      "EPERM",
		// the kernel truncates the domain to int and would make an
		// AF_INET socket; the filter compares all 64 bits
		"socket_inet_high_bits": "EPERM",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: got %s, want %s", k, got[k], w)
		}
	}
}

// TestSeccompKillsX32 checks that an x32 syscall kills the process.
func TestSeccompKillsX32(t *testing.T) {
	privilegesNeedRoot(t)
	if x32 := seccompArchIsAMD64(); !x32 {
		t.Skip("x32 exists on amd64 only")
	}
	out, err := runPrivilegesChild(t, "x32")
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("child survived an x32 syscall: %v %v", out, err)
	}
	if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGSYS {
		t.Fatalf("child ended with %v, want killed by SIGSYS", ee)
	}
}

// TestSeccompNeedsNoNewPrivs checks that loading the filter without
// no_new_privs is refused in this (test) process, which is left unchanged.
func TestSeccompNeedsNoNewPrivs(t *testing.T) {
	nnp, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	if err != nil || nnp != 0 {
		t.Skipf("no_new_privs already set here (%d, %v)", nnp, err)
	}
	if err := loadSeccomp(); err == nil || !strings.Contains(err.Error(), "setNoNewPrivs") {
		t.Fatalf("loadSeccomp without no_new_privs: %v, want a refusal", err)
	}
}
