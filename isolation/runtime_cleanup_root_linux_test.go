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

	recs, _ := filepath.Glob(filepath.Join(state, "containers", "*.json"))
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/" + testCgroupParent + "/killed-*")
	if len(recs) != 1 || len(cgs) == 0 {
		t.Fatalf("the killed pipe left records %v and cgroups %v; want one of each", recs, cgs)
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
	if pids := hostProcesses("sleep\x004321"); len(pids) > 0 {
		t.Errorf("the container's process survived: %v", pids)
	}
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
