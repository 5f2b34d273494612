package executor

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pipe-run/pipe/isolation"
)

// runtimeUnderTest is one Runtime the conformance suite checks, with the root
// filesystem its containers get (a busybox root).
type runtimeUnderTest struct {
	rt     Runtime
	rootfs []string
	fake   bool
}

var conformanceSeq atomic.Int64

// spec returns a Spec running script with "sh -c" in /workspace, on rootfs.
func (u runtimeUnderTest) spec(t *testing.T, script string) *isolation.Spec {
	id := fmt.Sprintf("conf-%d-%d", os.Getpid(), conformanceSeq.Add(1))
	return &isolation.Spec{
		ID:   id,
		Root: isolation.Overlay{Lower: u.rootfs},
		Process: isolation.Process{
			Args: []string{"/bin/sh", "-c", script},
			Dir:  "/workspace",
		},
	}
}

// run starts s, waits, destroys, and returns the result and output.
func (u runtimeUnderTest) run(t *testing.T, ctx context.Context, s *isolation.Spec) (isolation.Result, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	s.Process.Stdout, s.Process.Stderr = &out, &errb
	c, err := u.rt.Start(ctx, s)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	r, err := c.Wait()
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if err := c.Destroy(); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	return r, out.String(), errb.String()
}

// runConformance checks the behaviour the executor relies on.
func runConformance(t *testing.T, u runtimeUnderTest) {
	t.Run("ExitCodeAndOutput", func(t *testing.T) { confExit(t, u) })
	t.Run("EnvAndDefaultPath", func(t *testing.T) { confEnv(t, u) })
	t.Run("WorkspaceOverlay", func(t *testing.T) { confOverlay(t, u) })
	t.Run("BindMount", func(t *testing.T) { confBind(t, u) })
	t.Run("Timeout", func(t *testing.T) { confTimeout(t, u) })
	t.Run("Cancel", func(t *testing.T) { confCancel(t, u) })
	t.Run("ExecWhileRunning", func(t *testing.T) { confExec(t, u) })
	t.Run("ExecAfterExitWithKeepAlive", func(t *testing.T) { confKeepAlive(t, u) })
	t.Run("DestroyIdempotentWithoutWait", func(t *testing.T) { confDestroy(t, u) })
	t.Run("SharedNetNS", func(t *testing.T) { confNetNS(t, u) })
}

func confExit(t *testing.T, u runtimeUnderTest) {
	r, out, errs := u.run(t, context.Background(), u.spec(t, "echo out; echo err >&2; exit 3"))
	if r.ExitCode != 3 || r.TimedOut || r.Canceled {
		t.Errorf("result %+v, want exit 3", r)
	}
	if out != "out\n" || errs != "err\n" {
		t.Errorf("stdout %q stderr %q", out, errs)
	}
	r, _, _ = u.run(t, context.Background(), u.spec(t, "true"))
	if r.ExitCode != 0 {
		t.Errorf("true: %+v", r)
	}
}

func confEnv(t *testing.T, u runtimeUnderTest) {
	s := u.spec(t, `printf '%s|' "$FOO" "$EMPTY"; echo x | tr x y`)
	s.Process.Args[0] = "sh" // found through the default PATH
	s.Process.Env = []string{"FOO=bar baz", "EMPTY="}
	r, out, errs := u.run(t, context.Background(), s)
	if r.ExitCode != 0 || out != "bar baz||y\n" {
		t.Errorf("result %+v stdout %q stderr %q", r, out, errs)
	}
}

func writeFiles(t testing.TB, dir string, files map[string]string) string {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readFile(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func confOverlay(t *testing.T, u runtimeUnderTest) {
	bottom := writeFiles(t, t.TempDir(), map[string]string{"a.txt": "bottom", "b.txt": "b", "keep/k": "k"})
	top := writeFiles(t, t.TempDir(), map[string]string{"a.txt": "top"})
	upper, work := t.TempDir(), t.TempDir()
	s := u.spec(t, "cat a.txt > seen; cat keep/k >> seen; echo new > c.txt; rm b.txt; mkdir d; echo e > d/e")
	s.Mounts = []isolation.Mount{{Type: isolation.MountOverlay, Target: "/workspace",
		Overlay: isolation.Overlay{Lower: []string{bottom, top}, Upper: upper, Work: work}}}
	r, out, errs := u.run(t, context.Background(), s)
	if r.ExitCode != 0 {
		t.Fatalf("result %+v stdout %q stderr %q", r, out, errs)
	}
	if got := readFile(t, filepath.Join(upper, "seen")); got != "topk" {
		t.Errorf("seen %q, want the top lower's a.txt then keep/k", got)
	}
	if readFile(t, filepath.Join(upper, "c.txt")) != "new\n" || readFile(t, filepath.Join(upper, "d/e")) != "e\n" {
		t.Error("writes missing from the upper dir")
	}
	fi, err := os.Lstat(filepath.Join(upper, "b.txt"))
	if err != nil || !isWhiteout(fi) {
		t.Errorf("b.txt in upper: %v %v, want a whiteout", fi, err)
	}
	if _, err := os.Stat(filepath.Join(upper, "a.txt")); err == nil {
		t.Error("a.txt copied up though unchanged")
	}
	if readFile(t, filepath.Join(bottom, "b.txt")) != "b" || readFile(t, filepath.Join(top, "a.txt")) != "top" {
		t.Error("a lower dir changed")
	}
}

func confBind(t *testing.T, u runtimeUnderTest) {
	vol := writeFiles(t, t.TempDir(), map[string]string{"in": "from host"})
	s := u.spec(t, "cat in; echo back > out")
	s.Process.Dir = "/cache/vol"
	s.Mounts = []isolation.Mount{{Type: isolation.MountBind, Source: vol, Target: "/cache/vol"}}
	r, out, errs := u.run(t, context.Background(), s)
	if r.ExitCode != 0 || out != "from host" {
		t.Fatalf("result %+v stdout %q stderr %q", r, out, errs)
	}
	if readFile(t, filepath.Join(vol, "out")) != "back\n" {
		t.Error("write through the bind mount missing")
	}
}

func confTimeout(t *testing.T, u runtimeUnderTest) {
	// Generous: a container takes seconds to start under qemu's TCG (the VM
	// matrix), and a timeout before the process runs is another path.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	r, _, _ := u.run(t, ctx, u.spec(t, "sleep 30"))
	if !r.TimedOut || r.Canceled || r.ExitCode == 0 {
		t.Errorf("result %+v, want timed out", r)
	}
	if d := time.Since(start); d > 25*time.Second {
		t.Errorf("took %v: the container outlived its timeout", d)
	}
}

func confCancel(t *testing.T, u runtimeUnderTest) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(4*time.Second, cancel) // after the start, even under qemu's TCG
	r, _, _ := u.run(t, ctx, u.spec(t, "sleep 30"))
	if !r.Canceled || r.TimedOut || r.ExitCode == 0 {
		t.Errorf("result %+v, want canceled", r)
	}
}

func confExec(t *testing.T, u runtimeUnderTest) {
	c, err := u.rt.Start(context.Background(), u.spec(t, "sleep 30"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	var out bytes.Buffer
	r, err := c.Exec(context.Background(), isolation.Process{Args: []string{"sh", "-c", "echo hi; exit 4"}, Stdout: &out, Dir: "/"})
	if err != nil || r.ExitCode != 4 || out.String() != "hi\n" {
		t.Errorf("exec: %+v %v %q", r, err, out.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r, err = c.Exec(ctx, isolation.Process{Args: []string{"sleep", "30"}, Dir: "/"})
	if err != nil || !r.TimedOut {
		t.Errorf("exec with deadline: %+v %v", r, err)
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Wait(); err != nil || r.ExitCode == 0 {
		t.Errorf("wait after destroy: %+v %v", r, err)
	}
}

func confKeepAlive(t *testing.T, u runtimeUnderTest) {
	s := u.spec(t, "echo state > f; exit 1")
	s.KeepAlive = true
	s.Mounts = []isolation.Mount{{Type: isolation.MountOverlay, Target: "/workspace",
		Overlay: isolation.Overlay{Lower: []string{t.TempDir()}, Upper: t.TempDir(), Work: t.TempDir()}}}
	c, err := u.rt.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	if r, err := c.Wait(); err != nil || r.ExitCode != 1 {
		t.Fatalf("wait: %+v %v", r, err)
	}
	var out bytes.Buffer
	r, err := c.Exec(context.Background(), isolation.Process{Args: []string{"cat", "f"}, Dir: "/workspace", Stdout: &out})
	if err != nil || r.ExitCode != 0 || out.String() != "state\n" {
		t.Errorf("exec after exit: %+v %v %q", r, err, out.String())
	}
}

func confDestroy(t *testing.T, u runtimeUnderTest) {
	c, err := u.rt.Start(context.Background(), u.spec(t, "sleep 30"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := c.Destroy(); err != nil {
			t.Fatalf("destroy %d: %v", i, err)
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func confNetNS(t *testing.T, u runtimeUnderTest) {
	ns, err := u.rt.NewNetNS(fmt.Sprintf("conf-%d", conformanceSeq.Add(1)))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	port := freePort(t)
	join := isolation.Network{Mode: isolation.NetworkJoin, Path: ns.Path()}
	srv := u.spec(t, fmt.Sprintf("mkdir -p www && echo hello > www/index.html && exec httpd -f -p 127.0.0.1:%d -h www", port))
	srv.Process.Dir = "/tmp"
	srv.Network = join
	var srvOut bytes.Buffer
	srv.Process.Stdout, srv.Process.Stderr = &srvOut, &srvOut
	c, err := u.rt.Start(context.Background(), srv)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	client := u.spec(t, fmt.Sprintf("for i in $(seq 50); do wget -q -O - http://127.0.0.1:%d/ && exit 0; sleep 0.1; done; exit 1", port))
	client.Network = join
	r, out, errs := u.run(t, context.Background(), client)
	if r.ExitCode != 0 || out != "hello\n" {
		t.Errorf("client: %+v stdout %q stderr %q; server: %q", r, out, errs, srvOut.String())
	}
	if !u.fake {
		other := u.spec(t, fmt.Sprintf("wget -q -T 1 -O - http://127.0.0.1:%d/", port))
		if r, _, _ := u.run(t, context.Background(), other); r.ExitCode == 0 {
			t.Error("a container outside the netns reached the service")
		}
	}
}
