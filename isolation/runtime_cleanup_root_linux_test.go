package isolation

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pipe-run/pipe/internal/testimage"
)

// helperStateEnv makes TestKilledPipeHelper act as a pipe that gets killed.
const helperStateEnv = "PIPE_ISOLATION_TEST_KILLED_PIPE_STATE"

// TestKilledPipeHelper is not a test: run by TestKilledPipeCleanup as a
// subprocess, it starts a container and a netns, says "ready" and waits to
// be SIGKILLed.
func TestKilledPipeHelper(t *testing.T) {
	state := os.Getenv(helperStateEnv)
	if state == "" {
		t.Skip("helper of TestKilledPipeCleanup")
	}
	r, err := New(Options{StateDir: state, CgroupParent: testCgroupParent, UserNS: CurrentUserNS()})
	if err != nil {
		t.Fatal(err)
	}
	s := &Spec{ID: "killed", Root: Overlay{Lower: []string{testimage.Rootfs(t)}}, Process: Process{Args: []string{"/bin/sleep", "4321"}}}
	if _, err := r.Start(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if _, err := r.NewNetNS("killed-net"); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	time.Sleep(time.Hour)
}

// A SIGKILLed pipe leaves a container, its cgroup and scratch, and a netns
// pin; the next Runtime on the same state dir removes them all.
func TestKilledPipeCleanup(t *testing.T) {
	needsRoot(t)
	state := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKilledPipeHelper$", "-test.v")
	cmd.Env = append(os.Environ(), helperStateEnv+"="+state, testCgroupParentEnv+"="+testCgroupParent)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForLine(t, stdout, "ready")
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	// Its container dies with it (init sees the parent's end of their socket
	// close), before any cleanup; the deadline is generous for qemu TCG.
	deadline := time.Now().Add(30 * time.Second)
	for len(hostProcesses("sleep\x004321")) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if pids := hostProcesses("sleep\x004321"); len(pids) > 0 {
		t.Errorf("the container's process outlived its killed pipe: %v", pids)
	}
	recs, _ := filepath.Glob(filepath.Join(state, "containers", "*.json"))
	cgs := testCgroups("killed-*")
	if len(recs) != 1 || len(cgs) == 0 {
		// Not fatal: the cleanup below must still run, or the leftovers
		// would fail every later test.
		t.Errorf("the killed pipe left records %v and cgroups %v; want one of each", recs, cgs)
	}
	r, err := New(Options{StateDir: state, CgroupParent: testCgroupParent})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		checkNoLeftovers(t, state)
	})
	left, _ := filepath.Glob(filepath.Join(state, "*", "*"))
	if len(left) != 0 {
		t.Errorf("left in the state dir after cleanup: %v", left)
	}
	if cgs := testCgroups("killed-*"); len(cgs) > 0 {
		t.Errorf("cgroups left after cleanup: %v", cgs)
	}
}

// testCgroups lists the dirs matching pattern under the test's cgroup
// parent, in every v1 hierarchy or in the v2 one.
func testCgroups(pattern string) []string {
	v1, _ := filepath.Glob("/sys/fs/cgroup/*/" + testCgroupParent + "/" + pattern)
	v2, _ := filepath.Glob("/sys/fs/cgroup/" + testCgroupParent + "/" + pattern)
	return append(v1, v2...)
}

func waitForLine(t *testing.T, r interface{ Read([]byte) (int, error) }, want string) {
	t.Helper()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == want {
			return
		}
	}
	t.Fatalf("helper ended before saying %q", want)
}
