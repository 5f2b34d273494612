package main

import (
	"archive/tar"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// debugPipeline fails in build's third command, after writing to the
// workspace and to the root filesystem, with a secret and a dependency.
const debugPipeline = `secrets: [TOKEN]
steps:
  dep: {run: echo dep-output > dep.txt}
  build:
    needs: [dep]
    secrets: [TOKEN]
    env: {GREETING: hello}
    run:
      - echo written > out.txt
      - echo rootfile > /tmp/rootfile
      - exit 3
`

// ptySession is pipe running on a pseudo-terminal.
type ptySession struct {
	t   *testing.T
	cmd *exec.Cmd
	tty *os.File
	out syncBuffer
	at  int // how much of out expect has consumed
}

// startPTY starts pipe args on a new pty, in the repo.
func (e *runEnv) startPTY(t *testing.T, args ...string) *ptySession {
	t.Helper()
	return startPTYCmd(t, e.command(args...))
}

// startPTYCmd starts cmd on a new pty.
func startPTYCmd(t *testing.T, cmd *exec.Cmd) *ptySession {
	t.Helper()
	s := &ptySession{t: t, cmd: cmd}
	tty, err := pty.StartWithSize(s.cmd, &pty.Winsize{Rows: 40, Cols: 200})
	if err != nil {
		t.Fatalf("start pipe on a pty: %v", err)
	}
	s.tty = tty
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			s.out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		tty.Close()
	})
	return s
}

// expect waits for want in the output after what earlier expects consumed.
func (s *ptySession) expect(want string) {
	s.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		out := s.out.String()
		if i := strings.Index(out[s.at:], want); i >= 0 {
			s.at += i + len(want)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("no %q in the output:\n%s", want, s.out.String())
}

// send types a line.
func (s *ptySession) send(line string) {
	s.t.Helper()
	if _, err := s.tty.Write([]byte(line + "\r")); err != nil {
		s.t.Fatal(err)
	}
}

// wait waits for pipe to exit and returns its exit code.
func (s *ptySession) wait() int {
	s.t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		s.cmd.Process.Kill()
		s.t.Fatalf("pipe did not exit\n%s", s.out.String())
	}
	return s.cmd.ProcessState.ExitCode()
}

func newDebugEnv(t *testing.T) *runEnv {
	t.Helper()
	e := newRunEnv(t, debugPipeline)
	os.Setenv("TOKEN", "tok-secret-value")
	t.Cleanup(func() { os.Unsetenv("TOKEN") })
	return e
}

func TestDebugShellInFailedState(t *testing.T) {
	needsRoot(t)
	e := newDebugEnv(t)
	s := e.startPTY(t, "debug", "build")
	s.expect("[pipe debug build: 'exit 3' exited 3] /workspace #")
	s.send(`cat out.txt dep.txt /tmp/rootfile; echo "G=$GREETING T=$TOKEN"; pwd; echo "tty=$(tty)"`)
	for _, want := range []string{"written", "dep-output", "rootfile", "G=hello T=tok-secret-value", "/workspace", "tty=/dev/pts/"} {
		s.expect(want)
	}
	s.send("exit 0")
	if code := s.wait(); code != 3 {
		t.Errorf("exit %d, want the step's 3\n%s", code, s.out.String())
	}
	t.Logf("the session:\n%s", s.out.String())
	assertDebugLeftNothing(t, e.home)
}

func TestDebugCtrlCResizeAndKilledShell(t *testing.T) {
	needsRoot(t)
	e := newDebugEnv(t)
	s := e.startPTY(t, "debug", "build")
	s.expect("exited 3] /workspace #")
	s.send("sleep 1000")
	time.Sleep(300 * time.Millisecond)
	s.tty.Write([]byte{3}) // Ctrl-C: interrupts sleep, not pipe
	s.send("echo still-here")
	s.expect("still-here")
	if err := pty.Setsize(s.tty, &pty.Winsize{Rows: 33, Cols: 123}); err != nil { // SIGWINCH to pipe
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	s.send("stty size")
	s.expect("33 123")
	s.send("kill -9 $$")
	if code := s.wait(); code != 3 {
		t.Errorf("exit %d, want 3\n%s", code, s.out.String())
	}
	assertDebugLeftNothing(t, e.home)
}

func TestDebugBeforeAndAt(t *testing.T) {
	needsRoot(t)
	e := newDebugEnv(t)
	s := e.startPTY(t, "debug", "build", "--before")
	s.expect("[pipe debug build: before its script (/tmp/pipe-step.sh)] /workspace #")
	s.send("cat /tmp/pipe-step.sh; ls out.txt 2>&1 | grep -c 'No such'")
	s.expect("echo rootfile > /tmp/rootfile")
	s.expect("1\r\n")
	s.send("exit 7")
	if code := s.wait(); code != 7 {
		t.Errorf("--before: exit %d, want the shell's 7\n%s", code, s.out.String())
	}
	s = e.startPTY(t, "debug", "build", "--break", "rootfile")
	s.expect("before command 2 'echo rootfile > /tmp/rootfile'")
	s.send("cat out.txt; test -e /tmp/rootfile || echo no-rootfile; head -5 /tmp/pipe-step.sh")
	s.expect("written")
	s.expect("no-rootfile")
	s.expect("from command 2")
	s.send("exit")
	if code := s.wait(); code != 0 {
		t.Errorf("--break: exit %d, want 0\n%s", code, s.out.String())
	}
	assertDebugLeftNothing(t, e.home)
}

func TestDebugWithoutTerminal(t *testing.T) {
	needsRoot(t)
	e := newDebugEnv(t)
	out, code := e.pipe(t, "debug", "build")
	if code != 3 || !strings.Contains(out, "would have opened") || !strings.Contains(out, "'exit 3' exited 3") {
		t.Errorf("exit %d, want 3 and what it would have done\n%s", code, out)
	}
	if out, code := e.pipe(t, "debug", "biuld"); code != ExitInvalid || !strings.Contains(out, "build") {
		t.Errorf("unknown step: exit %d, want 2 with a suggestion\n%s", code, out)
	}
	if out, code := e.pipe(t, "debug", "--last"); code != ExitInvalid || !strings.Contains(out, "--keep-failed") {
		t.Errorf("--last with nothing kept: exit %d\n%s", code, out)
	}
	assertDebugLeftNothing(t, e.home)
}

func TestDebugLastAndExport(t *testing.T) {
	needsRoot(t)
	e := newDebugEnv(t)
	if out, code := e.pipe(t, "run", "--keep-failed"); code != ExitStepFailed || !strings.Contains(out, "pipe debug --last") {
		t.Fatalf("run --keep-failed: exit %d\n%s", code, out)
	}
	recs, _ := filepath.Glob(filepath.Join(e.home, "kept", "*", "record.json"))
	if len(recs) != 1 {
		t.Fatalf("kept records: %v", recs)
	}
	if b, _ := os.ReadFile(recs[0]); strings.Contains(string(b), "tok-secret-value") || !strings.Contains(string(b), "TOKEN") {
		t.Errorf("record.json must name TOKEN and never hold its value:\n%s", b)
	}
	s := e.startPTY(t, "debug", "--last")
	s.expect("[pipe debug build: 'exit 3' exited 3, kept from run")
	s.send(`cat out.txt dep.txt /tmp/rootfile; echo "T=$TOKEN"`)
	for _, want := range []string{"written", "dep-output", "rootfile", "T=tok-secret-value"} {
		s.expect(want)
	}
	s.send("exit")
	if code := s.wait(); code != 3 {
		t.Errorf("--last: exit %d, want 3\n%s", code, s.out.String())
	}
	tarPath := filepath.Join(t.TempDir(), "failed.tar")
	if out, code := e.pipe(t, "debug", "--export", tarPath); code != 0 {
		t.Fatalf("--export: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(tarPath); strings.Contains(string(b), "tok-secret-value") {
		t.Errorf("the export holds the secret's value")
	}
	if out, code := e.pipe(t, "image", "import", tarPath, "pipe.test/failed:1"); code != 0 {
		t.Fatalf("import the export: exit %d\n%s", code, out)
	}
	// pipe run mounts the checkout's workspace over /workspace: the image's
	// own /workspace is read from the tarball, the rest from a run.
	os.WriteFile(filepath.Join(e.repo, "check.pipe.yml"), []byte("version: 1\nsteps:\n  check:\n    image: pipe.test/failed:1\n"+
		"    run: cat /tmp/rootfile; echo \"G=$GREETING\"\n"), 0o644)
	out, code := e.pipe(t, "run", "-f", "check.pipe.yml", "--no-cache")
	if code != 0 || !strings.Contains(out, "rootfile") || !strings.Contains(out, "G=hello") {
		t.Errorf("run in the exported image: exit %d\n%s", code, out)
	}
	files := exportedFiles(t, tarPath)
	for _, want := range []string{"workspace/out.txt=written\n", "workspace/dep.txt=dep-output\n", "tmp/rootfile=rootfile\n"} {
		if !strings.Contains(files, want) {
			t.Errorf("the exported image has no %q:\n%s", want, files)
		}
	}
	assertDebugLeftNothing(t, e.home)
}

// assertDebugLeftNothing checks that no mount of the store and no cgroup of
// a pipe container of step build is left.
func assertDebugLeftNothing(t *testing.T, home string) {
	t.Helper()
	assertStepLeftNothing(t, home, "build")
}

// assertStepLeftNothing checks that no mount of the store and no cgroup of
// a pipe container (or service) of step is left.
func assertStepLeftNothing(t *testing.T, home, step string) {
	t.Helper()
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(b), home) {
		t.Errorf("mounts of %s left:\n%s", home, grepLines(string(b), home))
	}
	if left := leftCgroups(step); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
}

// leftCgroups lists the cgroups of step's containers, and of inits started
// ahead of any container (pipe-<pid>-<12 hex>, named after no step), that
// no running pipe process owns: the ones a live pipe recorded in the state
// dir (another test's, another user's of the machine) are its own.
func leftCgroups(step string) []string {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/pipe/pipe-*")
	more, _ := filepath.Glob("/sys/fs/cgroup/pipe/pipe-*")
	var left []string
	for _, d := range append(dirs, more...) {
		name := filepath.Base(d)
		f := strings.Split(name, "-")
		prestarted := len(f) == 3 && len(f[2]) == 12
		if (prestarted || strings.Contains(name, "-"+step+"-")) && !liveOwner(name) {
			left = append(left, d)
		}
	}
	return left
}

// liveOwner says whether the state record of container name names a
// running pipe process.
func liveOwner(name string) bool {
	b, err := os.ReadFile(filepath.Join("/run/pipe/containers", name+".json"))
	var rec struct{ Owner struct{ Pid int } }
	if err != nil || json.Unmarshal(b, &rec) != nil || rec.Owner.Pid <= 0 {
		return false
	}
	return syscall.Kill(rec.Owner.Pid, 0) == nil
}

// exportedFiles lists the small files of the image in a docker-load
// tarball as "path=content" lines.
func exportedFiles(t *testing.T, path string) string {
	t.Helper()
	img, err := tarball.ImageFromPath(path, nil)
	if err != nil {
		t.Fatalf("read the export as a docker tarball: %v", err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	var b strings.Builder
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Typeflag == tar.TypeReg && h.Size < 100 && strings.HasSuffix(h.Name, ".txt") || strings.HasPrefix(h.Name, "tmp/") {
			data, _ := io.ReadAll(tr)
			fmt.Fprintf(&b, "%s=%s", h.Name, data)
		}
	}
	return b.String()
}

// webServicePipeline fails in step web after fetching a page from its
// service www.
const webServicePipeline = `services:
  www:
    image: ` + runTestImage + `
    command: "mkdir -p /srv && echo served > /srv/index.html && exec httpd -f -p 8080 -h /srv"
    ready: {run: "wget -q -O /dev/null http://127.0.0.1:8080/", interval: 100ms}
steps:
  web:
    services: [www]
    run: [wget -q -O page.html http://www:8080/, exit 5]
`

// The shell of a failed step still reaches the step's services by name.
func TestDebugServicesStillUp(t *testing.T) {
	needsRoot(t)
	e := newRunEnv(t, webServicePipeline)
	s := e.startPTY(t, "debug", "web")
	s.expect("'exit 5' exited 5]")
	s.send("cat page.html; wget -q -O - http://www:8080/ | tr a-z A-Z")
	s.expect("served")
	s.expect("SERVED")
	s.send("exit")
	if code := s.wait(); code != 5 {
		t.Errorf("exit %d, want 5\n%s", code, s.out.String())
	}
	if strings.Contains(s.out.String(), "reproduce with:") {
		t.Errorf("pipe debug's summary tells the user to run pipe debug:\n%s", s.out.String())
	}
	assertStepLeftNothing(t, e.home, "web")
}

// pipe debug --last starts the kept step's services again: the shell
// reaches them by name, and they are gone after it exits.
func TestDebugLastRestartsServices(t *testing.T) {
	needsRoot(t)
	e := newRunEnv(t, webServicePipeline)
	if out, code := e.pipe(t, "run", "--keep-failed"); code != ExitStepFailed || !strings.Contains(out, "pipe debug --last") {
		t.Fatalf("run --keep-failed: exit %d\n%s", code, out)
	}
	recs, _ := filepath.Glob(filepath.Join(e.home, "kept", "*", "record.json"))
	if len(recs) != 1 {
		t.Fatalf("kept records: %v", recs)
	}
	if b, _ := os.ReadFile(recs[0]); !strings.Contains(string(b), `"services"`) || !strings.Contains(string(b), "httpd -f -p 8080") {
		t.Errorf("record.json holds no service to restart:\n%s", b)
	}
	s := e.startPTY(t, "debug", "--last")
	s.expect("[pipe debug web: 'exit 5' exited 5, kept from run")
	s.send("cat page.html; wget -q -O - http://www:8080/ | tr a-z A-Z")
	s.expect("served")
	s.expect("SERVED")
	s.send("exit")
	if code := s.wait(); code != 5 {
		t.Errorf("--last: exit %d, want 5\n%s", code, s.out.String())
	}
	assertStepLeftNothing(t, e.home, "web")
}
