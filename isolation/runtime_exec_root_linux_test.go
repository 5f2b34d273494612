package isolation

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Exec into a KeepAlive container sees what the main process left; it runs
// with its own user, env and dir, and ends with its context.
func TestExecKeepAlive(t *testing.T) {
	r := newTestRuntime(t)
	s := busybox(t, "/bin/sh", "-c", "echo data > /tmp/f; exit 3")
	s.KeepAlive = true
	c, err := r.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	res, err := c.Wait()
	if err != nil || res.ExitCode != 3 {
		t.Fatalf("main: %+v, %v", res, err)
	}
	var out lockedBuffer
	p := Process{Args: []string{"/bin/sh", "-c", "cat /tmp/f; id -u; pwd; echo $V"}, User: "builder", Dir: "/home/builder", Env: []string{"V=v"}, Stdout: &out, Stderr: &out}
	res, err = c.Exec(context.Background(), p)
	if err != nil || res.ExitCode != 0 || out.String() != "data\n1000\n/home/builder\nv\n" {
		t.Errorf("exec: %+v, %v, %q", res, err, out.String())
	}
	if res, err = c.Exec(context.Background(), Process{Args: []string{"/bin/sh", "-c", "exit 5"}}); err != nil || res.ExitCode != 5 {
		t.Errorf("exec exit 5: %+v, %v", res, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond+startSlack(t, r))
	defer cancel()
	res, err = c.Exec(ctx, Process{Args: []string{"/bin/sh", "-c", "sleep 100 & sleep 101"}})
	if err != nil || !res.TimedOut || res.ExitCode != 137 {
		t.Errorf("exec with a timeout: %+v, %v", res, err)
	}
	if _, err := c.Exec(context.Background(), Process{Args: []string{"nonexistent"}}); err == nil {
		t.Errorf("exec of a missing command: no error")
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(context.Background(), Process{Args: []string{"/bin/true"}}); err == nil {
		t.Errorf("exec after Destroy: no error")
	}
}

// Exec works while the main process runs (readiness checks).
func TestExecWhileRunning(t *testing.T) {
	r := newTestRuntime(t)
	s := busybox(t, "/bin/sh", "-c", "touch /tmp/ready; exec sleep 1000")
	c, err := r.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	deadline := time.Now().Add(10 * time.Second)
	for {
		res, err := c.Exec(context.Background(), Process{Args: []string{"test", "-e", "/tmp/ready"}})
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never ready")
		}
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	res, err := c.Wait()
	if err != nil || res.ExitCode != 137 {
		t.Errorf("main after Destroy: %+v, %v", res, err)
	}
}

// A TTY process sees a terminal of the asked size, and resizes.
func TestTTY(t *testing.T) {
	r := newTestRuntime(t)
	s := busybox(t, "/bin/sh", "-c", "tty; stty size; read x; stty size")
	inR, inW := io.Pipe()
	resize := make(chan WindowSize, 1)
	out := &watchWriter{want: "40 100", seen: make(chan struct{})}
	s.Process = Process{Args: s.Process.Args, TTY: true, Size: &WindowSize{Rows: 40, Cols: 100}, Resize: resize, Stdin: inR, Stdout: out}
	c, err := r.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	<-out.seen
	resize <- WindowSize{Rows: 50, Cols: 120}
	time.Sleep(100 * time.Millisecond)
	inW.Write([]byte("\n"))
	res, err := c.Wait()
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%+v, %v", res, err)
	}
	got := strings.ReplaceAll(out.String(), "\r", "")
	if !strings.HasPrefix(got, "/dev/pts/0\n40 100\n") || !strings.HasSuffix(got, "50 120\n") {
		t.Errorf("output %q", got)
	}

	// An Exec'd process gets a terminal too.
	s = busybox(t, "/bin/sleep", "1000")
	c, err = r.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	var eout lockedBuffer
	res, err = c.Exec(context.Background(), Process{Args: []string{"/bin/sh", "-c", "tty; stty size"}, TTY: true, Size: &WindowSize{Rows: 12, Cols: 34}, Stdout: &eout})
	if got := strings.ReplaceAll(eout.String(), "\r", ""); err != nil || res.ExitCode != 0 || got != "/dev/pts/0\n12 34\n" {
		t.Errorf("exec with a TTY: %+v, %v, %q", res, err, got)
	}
}

// Bind (read-only and writable, dir and file), tmpfs and overlay mounts.
func TestMounts(t *testing.T) {
	r := newTestRuntime(t)
	ro, rw := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(ro, "in"), []byte("ro-data\n"), 0o644)
	file := filepath.Join(t.TempDir(), "config")
	os.WriteFile(file, []byte("cfg\n"), 0o644)
	lower, upper, work := t.TempDir(), t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(lower, "base"), []byte("base\n"), 0o644)
	s := busybox(t, "/bin/sh", "-c", `cat /ro/in /etc/app/config /ws/base
		touch /ro/x 2>/dev/null && echo "wrote ro"
		echo out > /rw/out; echo new > /ws/new; echo t > /tmpfs/t
		grep ' /tmpfs ' /proc/self/mountinfo | grep -c size=1024k`)
	s.Mounts = []Mount{
		{Type: MountBind, Source: ro, Target: "/ro", ReadOnly: true},
		{Type: MountBind, Source: rw, Target: "/rw"},
		{Type: MountBind, Source: file, Target: "/etc/app/config", ReadOnly: true},
		{Type: MountTmpfs, Target: "/tmpfs", Size: 1 << 20},
		{Type: MountOverlay, Target: "/ws", Overlay: Overlay{Lower: []string{lower}, Upper: upper, Work: work}},
	}
	res, out := run(t, r, s)
	if res.ExitCode != 0 || out != "ro-data\ncfg\nbase\n1\n" {
		t.Errorf("exit %d: %q", res.ExitCode, out)
	}
	if b, _ := os.ReadFile(filepath.Join(rw, "out")); string(b) != "out\n" {
		t.Errorf("writable bind: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(upper, "new")); string(b) != "new\n" {
		t.Errorf("overlay upper: %q", b)
	}
	if _, err := os.Stat(filepath.Join(lower, "new")); err == nil {
		t.Errorf("the overlay wrote to its lower dir")
	}
}

// The root's upper dir, when the caller gives one, keeps what the
// container wrote.
func TestRootUpper(t *testing.T) {
	r := newTestRuntime(t)
	s := busybox(t, "/bin/sh", "-c", "echo kept > /kept")
	s.Root.Upper, s.Root.Work = t.TempDir(), t.TempDir()
	if res, _ := run(t, r, s); res.ExitCode != 0 {
		t.Fatalf("exit %d", res.ExitCode)
	}
	if b, _ := os.ReadFile(filepath.Join(s.Root.Upper, "kept")); string(b) != "kept\n" {
		t.Errorf("upper: %q", b)
	}
}
