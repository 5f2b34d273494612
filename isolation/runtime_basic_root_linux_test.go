package isolation

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The container's init is PID 1, the main process its child, and no host
// process is visible.
func TestPIDNamespace(t *testing.T) {
	r := newTestRuntime(t)
	out := sh(t, r, `grep PPid /proc/$$/status; tr '\0' ' ' </proc/1/cmdline; echo; ls -d /proc/[0-9]* | wc -l`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || lines[0] != "PPid:\t1" || !strings.HasPrefix(lines[1], InitArg0) {
		t.Fatalf("want init as PID 1 and the parent of the main process, got:\n%s", out)
	}
	if n, _ := strconv.Atoi(strings.TrimSpace(lines[2])); n < 2 || n > 4 {
		t.Errorf("%d processes visible in the container, want init, sh and ls only", n)
	}
}

func TestHostname(t *testing.T) {
	r := newTestRuntime(t)
	s := busybox(t, "/bin/sh", "-c", "hostname; cat /etc/hostname; grep -c builder-box /etc/hosts; grep db.local /etc/hosts")
	s.Hostname = "builder-box"
	s.Hosts = map[string]string{"db.local": "127.0.0.7"}
	res, out := run(t, r, s)
	want := "builder-box\nbuilder-box\n1\n127.0.0.7\tdb.local\n"
	if res.ExitCode != 0 || out != want {
		t.Fatalf("exit %d, output %q, want %q", res.ExitCode, out, want)
	}
}

func TestExitCodesAndSignals(t *testing.T) {
	r := newTestRuntime(t)
	for _, tc := range []struct {
		script string
		code   int
		sig    syscall.Signal
	}{
		{"exit 0", 0, 0},
		{"exit 3", 3, 0},
		{"exit 255", 255, 0},
		{"kill -TERM $$", 143, syscall.SIGTERM},
		{"kill -KILL $$", 137, syscall.SIGKILL},
		{"kill -SEGV $$", 139, syscall.SIGSEGV},
	} {
		res, out := run(t, r, busybox(t, "/bin/sh", "-c", tc.script))
		if res.ExitCode != tc.code || res.Signal != tc.sig || res.TimedOut || res.Canceled || res.OOMKilled {
			t.Errorf("%q: got %+v (output %q), want exit %d signal %v", tc.script, res, out, tc.code, tc.sig)
		}
		if res.WallTime <= 0 {
			t.Errorf("%q: no wall time", tc.script)
		}
	}
}

func TestEnvDirUser(t *testing.T) {
	r := newTestRuntime(t)
	for _, tc := range []struct {
		user, want string
	}{
		{"", "0 0 0 /root"},
		{"builder", "1000 1000 1000 100 /home/builder"},
		{"1000", "1000 1000 1000 100 /home/builder"},
		{"builder:users", "1000 100 100 /home/builder"},
		{"1234:5678", "1234 5678 5678 /"},
		{"nobody:100", "65534 100 100 /nonexistent"},
	} {
		s := busybox(t, "/bin/sh", "-c", `echo $(id -u) $(id -g) $(id -G) $HOME; pwd; echo "$FOO"`)
		s.Process.User, s.Process.Dir = tc.user, "/tmp/work/dir"
		s.Process.Env = []string{"FOO=bar baz"}
		res, out := run(t, r, s)
		want := tc.want + "\n/tmp/work/dir\nbar baz\n"
		if res.ExitCode != 0 || out != want {
			t.Errorf("user %q: exit %d, output %q, want %q", tc.user, res.ExitCode, out, want)
		}
	}
	s := busybox(t, "/bin/true")
	s.Process.User = "nosuchuser"
	if _, err := r.Run(context.Background(), s); err == nil || !strings.Contains(err.Error(), "nosuchuser") {
		t.Errorf("unknown user: got %v, want an error naming it", err)
	}
}

// No fd of pipe reaches the container (CVE-2024-21626), not even one
// without O_CLOEXEC; init's own fds and binary are out of reach.
func TestNoFdLeak(t *testing.T) {
	r := newTestRuntime(t)
	fd, err := syscall.Open("/etc/passwd", syscall.O_RDONLY, 0) // no O_CLOEXEC on purpose
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	s := busybox(t, "/bin/sleep", "1000")
	s.KeepAlive = true
	c, err := r.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	// sleep was started by init directly: it has 0, 1 and 2 only. The
	// Exec'd shell (which keeps a copy of stdout as fd 10) has nothing but
	// its streams either.
	script := `echo $(ls /proc/$(pidof sleep)/fd)
		for f in /proc/$$/fd/*; do readlink $f; done | grep -v -e '^pipe:' -e '^/dev/null$' -e "^/proc/$$/fd\$"
		for f in /proc/1/fd/* /proc/1/exe; do readlink $f && echo "init's $f is readable"; done; true`
	var out lockedBuffer
	res, err := c.Exec(context.Background(), Process{Args: []string{"/bin/sh", "-c", script}, Stdout: &out, Stderr: &out})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("exec: %v, %+v", err, res)
	}
	if got := out.String(); got != "0 1 2\n" {
		t.Errorf("fds in the container: %q, want only 0 1 2 (and init's fds and binary out of reach)", got)
	}
}

func TestRlimits(t *testing.T) {
	r := newTestRuntime(t)
	var hard syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &hard); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("1024 %d\n", min(hard.Max, 1<<20))
	if out := sh(t, r, "echo $(ulimit -n) $(ulimit -Hn)"); out != want {
		t.Errorf("default NOFILE: %q, want %q", out, want)
	}
	s := busybox(t, "/bin/sh", "-c", "echo $(ulimit -n) $(ulimit -Hn)")
	s.Limits.NoFile = 4096
	if _, out := run(t, r, s); out != "4096 4096\n" {
		t.Errorf("NoFile 4096: %q", out)
	}
}

// Canceling the context kills the whole container, fast.
func TestCancel(t *testing.T) {
	r := newTestRuntime(t)
	ctx, cancel := context.WithCancel(context.Background())
	c, err := r.Start(ctx, busybox(t, "/bin/sh", "-c", "sleep 1000 & sleep 1001"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	cancel()
	res, err := c.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !res.Canceled || res.TimedOut || res.Signal != syscall.SIGKILL || res.ExitCode != 137 {
		t.Errorf("got %+v, want canceled, SIGKILL", res)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancel took %v", d)
	}
}

// A timeout kills the step and a grandchild that left its session; a
// daemonised child does not survive a step that exits by itself either.
func TestTimeoutKillsEverything(t *testing.T) {
	r := newTestRuntime(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond+startSlack(t, r))
	defer cancel()
	res, err := r.Run(ctx, busybox(t, "/bin/sh", "-c", "setsid sleep 1234 & sleep 1235"))
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.Canceled || res.ExitCode != 137 {
		t.Errorf("got %+v, want timed out and killed", res)
	}
	res, _ = run(t, r, busybox(t, "/bin/sh", "-c", "setsid sleep 1236 & exit 0"))
	if res.ExitCode != 0 {
		t.Errorf("exit %d", res.ExitCode)
	}
	for _, arg := range []string{"1234", "1235", "1236"} {
		if pids := hostProcesses("sleep\x00" + arg); len(pids) > 0 {
			t.Errorf("sleep %s survived: pids %v", arg, pids)
		}
	}
}

// hostProcesses lists the host's processes whose cmdline contains s.
func hostProcesses(s string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.Contains(string(b), s) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TimeoutGrace sends SIGTERM first, which init forwards to the step.
func TestTimeoutGrace(t *testing.T) {
	r := newTestRuntime(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := busybox(t, "/bin/sh", "-c", "trap 'echo got TERM; exit 7' TERM; echo ready; while true; do sleep 0.05; done")
	s.Limits.TimeoutGrace = 10 * time.Second
	out := &watchWriter{want: "ready", seen: make(chan struct{})}
	s.Process.Stdout = out
	c, err := r.Start(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Destroy()
	<-out.seen
	cancel()
	res, err := c.Wait()
	if err != nil || !res.Canceled || res.ExitCode != 7 || !strings.Contains(out.String(), "got TERM") {
		t.Errorf("got %+v, %v, output %q: want the step to exit 7 on SIGTERM", res, err, out.String())
	}
}

// watchWriter closes seen once want was written to it.
type watchWriter struct {
	lockedBuffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *watchWriter) Write(p []byte) (int, error) {
	n, err := w.lockedBuffer.Write(p)
	if strings.Contains(w.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func runCtx(t *testing.T, r *Runtime, ctx context.Context, s *Spec) (Result, string) {
	t.Helper()
	var out lockedBuffer
	s.Process.Stdout, s.Process.Stderr = &out, &out
	res, err := r.Run(ctx, s)
	if err != nil {
		t.Fatalf("run: %v\noutput: %s", err, out.String())
	}
	return res, out.String()
}

func TestStdin(t *testing.T) {
	r := newTestRuntime(t)
	s := busybox(t, "/bin/sh", "-c", "tr a-z A-Z; echo err >&2")
	s.Process.Stdin = strings.NewReader("hello\n")
	var stdout, stderr lockedBuffer
	s.Process.Stdout, s.Process.Stderr = &stdout, &stderr
	if _, err := r.Run(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "HELLO\n" || stderr.String() != "err\n" {
		t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
	}
}

func TestCommandNotFound(t *testing.T) {
	r := newTestRuntime(t)
	_, err := r.Run(context.Background(), busybox(t, "no-such-command"))
	if err == nil || !strings.Contains(err.Error(), "no-such-command") {
		t.Fatalf("got %v, want an error naming the command", err)
	}
}

// Containers of one Runtime run side by side.
func TestConcurrentContainers(t *testing.T) {
	r := newTestRuntime(t)
	errs := make(chan error, 6)
	for i := range 6 {
		go func() {
			s := busybox(t, "/bin/sh", "-c", fmt.Sprintf("hostname; exit %d", i))
			s.ID = fmt.Sprintf("c%d", i)
			var out lockedBuffer
			s.Process.Stdout = &out
			res, err := r.Run(context.Background(), s)
			if err == nil && (res.ExitCode != i || out.String() != s.ID+"\n") {
				err = fmt.Errorf("container %d: exit %d, output %q", i, res.ExitCode, out.String())
			}
			errs <- err
		}()
	}
	for range 6 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
