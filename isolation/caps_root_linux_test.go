package isolation

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestCapsDefaultMask checks the mask the names make: Podman's default set.
func TestCapsDefaultMask(t *testing.T) {
	mask, err := capabilityMask(defaultCapabilities)
	if err != nil {
		t.Fatal(err)
	}
	if mask != 0x800405fb {
		t.Fatalf("mask %#x, want 0x800405fb (Podman's default capabilities)", mask)
	}
	if _, err := capabilityMask([]string{"CAP_NOPE"}); err == nil {
		t.Fatal("unknown capability accepted")
	}
}

// TestCapsDropAllThreads drops capabilities, sets no_new_privs and loads
// the filter in a child with extra threads, as the container init does, and
// checks every thread and the processes it starts.
func TestCapsDropAllThreads(t *testing.T) {
	privilegesNeedRoot(t)
	got, err := runPrivilegesChild(t, "all")
	if err != nil {
		t.Fatal(err)
	}
	mask := fmt.Sprintf("%016x", uint64(0x800405fb))
	wantStatus := []string{"CapInh: " + mask, "CapPrm: " + mask, "CapEff: " + mask, "CapBnd: " + mask,
		"CapAmb: 0000000000000000", "NoNewPrivs: 1", "Seccomp: 2"}
	threads, _ := strconv.Atoi(got["threads"])
	if threads < 5 {
		t.Errorf("child had %d threads, want at least 5", threads)
	}
	checkStatusLines(t, "the thread that dropped", got["this_thread"], wantStatus)
	if got["all_threads"] != "true" {
		// Only the seccomp filter and no_new_privs (synchronised by the
		// filter) reach the other threads; children fork from the locked one.
		t.Log("this test binary links cgo: capabilities were dropped on the calling thread only")
		wantStatus = []string{"NoNewPrivs: 1", "Seccomp: 2"}
	}
	seen := 0
	for k, v := range got {
		if strings.HasPrefix(k, "task ") {
			seen++
			checkStatusLines(t, k, v, wantStatus)
		}
	}
	if seen != threads {
		t.Errorf("checked %d threads of %d", seen, threads)
	}
	checkStatusLines(t, "child process as root", got["exec_root_status"], wantStatus)
	checkStatusLines(t, "child process as 65534", got["exec_nobody"],
		[]string{"OK", "65534", "CapPrm: 0000000000000000", "CapEff: 0000000000000000", "NoNewPrivs: 1", "Seccomp: 2"})
	for k, w := range map[string]string{"mount": "EPERM", "socket_inet": "OK", "socket_unix": "OK",
		"exec_true": "OK", "signal_wait": "OK"} {
		if got[k] != w {
			t.Errorf("%s: got %q, want %q", k, got[k], w)
		}
	}
	t.Logf("child as root:\n%s\nchild as 65534:\n%s", got["exec_root_status"], got["exec_nobody"])
	switch got["pidfd"] {
	case "true":
	case "unknown":
		t.Log("cannot tell whether os/exec used a pidfd (os.Process changed)")
	default:
		t.Error("os/exec did not get a pidfd under the filter (pidfd_open, waitid P_PIDFD or clone CLONE_PIDFD blocked?)")
	}
}

func checkStatusLines(t *testing.T, what, got string, want []string) {
	t.Helper()
	lines := map[string]bool{}
	for _, l := range strings.Split(got, "\n") {
		lines[strings.Join(strings.Fields(l), " ")] = true
	}
	for _, w := range want {
		if !lines[w] {
			t.Errorf("%s: missing %q in:\n%s", what, w, got)
		}
	}
}

func seccompArchIsAMD64() bool { return runtime.GOARCH == "amd64" }
