package isolation

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipe-run/pipe/internal/testimage"
)

// The package's TestMain (seccomp_main_linux_test.go) calls MaybeInit, so
// the test binary serves as the container init.

// testCgroupParent keeps these tests' cgroups apart from pipe's, from other
// packages' tests and from another `go test ./isolation` running at the same
// time (whose live cgroups checkNoLeftovers would report): it names this
// process, or the test process whose helper this one is (testCgroupParentEnv).
// TestMain removes it when the tests end (removeTestCgroupParent).
var testCgroupParent = testCgroupParentName()

// testCgroupParentEnv passes testCgroupParent to a helper subprocess.
const testCgroupParentEnv = "PIPE_ISOLATION_TEST_CGROUP_PARENT"

func testCgroupParentName() string {
	if p := os.Getenv(testCgroupParentEnv); p != "" {
		return p
	}
	return fmt.Sprintf("pipe-test-isolation-%d", os.Getpid())
}

// removeTestCgroupParent removes testCgroupParent and whatever empty
// cgroups are left in it, in every hierarchy, and says on stderr what it
// could not remove. TestMain calls it after the tests.
func removeTestCgroupParent() {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + testCgroupParent)
	uni, _ := filepath.Glob("/sys/fs/cgroup/" + testCgroupParent)
	for _, d := range append(dirs, uni...) {
		kids, _ := filepath.Glob(filepath.Join(d, "*"))
		for _, k := range kids {
			if st, err := os.Stat(k); err == nil && st.IsDir() {
				_ = os.Remove(k)
			}
		}
		if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
			fmt.Fprintf(os.Stderr, "isolation tests: remove test cgroup parent: %v\n", err)
		}
	}
}

// needsRoot skips without PIPE_TEST_ROOT=1; with it, a test that cannot run fails.
func needsRoot(t testing.TB) {
	t.Helper()
	if os.Getenv("PIPE_TEST_ROOT") != "1" {
		t.Skip("needs root: set PIPE_TEST_ROOT=1")
	}
	if err := Available(); err != nil {
		t.Fatal(err)
	}
}

// newTestRuntime returns a Runtime with a state dir of the test's own, and
// checks when the test ends that nothing of it is left: no mount, no cgroup.
func newTestRuntime(t testing.TB) *Runtime {
	t.Helper()
	needsRoot(t)
	state := t.TempDir()
	initBin := testInit(t)
	r, err := New(Options{StateDir: state, CgroupParent: testCgroupParent, UserNS: CurrentUserNS(), Prestart: testPrestart(), Init: initBin, InitKey: testInitKey(initBin)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
		checkNoLeftovers(t, state)
	})
	return r
}

// checkNoLeftovers fails when a mount under state or a container cgroup remains.
func checkNoLeftovers(t testing.TB, state string) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, state) {
			t.Errorf("mount left behind: %s", l)
		}
	}
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + testCgroupParent + "/*")
	uni, _ := filepath.Glob("/sys/fs/cgroup/" + testCgroupParent + "/*")
	for _, d := range append(dirs, uni...) {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			t.Errorf("cgroup left behind: %s", d)
		}
	}
}

// busybox returns a Spec running args in a fresh busybox container.
func busybox(t testing.TB, args ...string) *Spec {
	t.Helper()
	return &Spec{
		ID:      strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()),
		Root:    Overlay{Lower: []string{testimage.Rootfs(t)}},
		Process: Process{Args: args},
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// run runs s (within timeout) and returns its Result and output.
func run(t testing.TB, r *Runtime, s *Spec) (Result, string) {
	t.Helper()
	var out lockedBuffer
	s.Process.Stdout, s.Process.Stderr = &out, &out
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := r.Run(ctx, s)
	if err != nil {
		t.Fatalf("run %v: %v\noutput: %s", s.Process.Args, err, out.String())
	}
	return res, out.String()
}

// sh runs a shell script in a fresh busybox container and returns its
// output, failing the test unless it exits 0.
func sh(t testing.TB, r *Runtime, script string) string {
	t.Helper()
	res, out := run(t, r, busybox(t, "/bin/sh", "-c", script))
	if res.ExitCode != 0 {
		t.Fatalf("script %q: exit %d, output:\n%s", script, res.ExitCode, out)
	}
	return out
}

func TestSmoke(t *testing.T) {
	r := newTestRuntime(t)
	out := sh(t, r, "echo hello; id; hostname; cat /proc/self/status | grep -E 'Cap|NoNew'; ls -la /dev /proc/self/fd; cat /proc/self/mountinfo")
	t.Log(out)
}

// startSlack is how long a deadline must leave for a container to start
// on this machine: a generous multiple of one measured start and exit of
// /bin/true, so that tests that time out a container's process stay right
// under qemu's TCG (ten times slower) and on loaded machines.
func startSlack(t testing.TB, r *Runtime) time.Duration {
	t.Helper()
	s := busybox(t, "/bin/true")
	s.ID += "-slack" // the test's own container may be running
	start := time.Now()
	if res, _ := run(t, r, s); res.ExitCode != 0 {
		t.Fatalf("/bin/true: %+v", res)
	}
	return 4 * time.Since(start)
}

// testPrestart is Options.Prestart for newTestRuntime: 0, unless
// PIPE_TEST_PRESTART=1 runs every test's containers from prestarted inits
// (init_pool_linux.go), to check that path against the whole suite.
func testPrestart() int {
	if os.Getenv("PIPE_TEST_PRESTART") == "1" {
		return 1
	}
	return 0
}
