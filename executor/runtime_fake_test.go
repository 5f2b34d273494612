package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pipe-run/pipe/isolation"
)

// fakeRuntime runs a Spec's argv as host processes, for fast tests of the
// executor's logic without root. What it emulates, and how:
//   - the container's root is a host dir (a fresh temp dir per container);
//     absolute paths in Process.Dir and in mount targets are mapped below it;
//   - Root.Lower dirs are not mounted: argv[0] and PATH entries are looked up
//     in them (top first), so that a busybox rootfs provides sh and applets;
//   - an overlay mount is a copy of its lower dirs (whiteouts and opaque dirs
//     applied); the difference is written to Upper, whiteouts included
//     (those need root: without it deletions are not recorded), when the
//     main process ends (what isolation's overlay holds by then) and again
//     at Destroy (for Exec after it);
//   - a bind mount is a symlink to its source; tmpfs an empty dir;
//   - networks and /etc/hosts are the host's: tests reach services at 127.0.0.1.
//
// Scripts that run on both the fake and isolation use relative paths only.
type fakeRuntime struct {
	dir string
	mu  sync.Mutex
	seq int
	// started counts Start calls, for tests of the cache ("a hit runs nothing").
	started int
}

func newFakeRuntime(dir string) *fakeRuntime { return &fakeRuntime{dir: dir} }

func (f *fakeRuntime) starts() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.started
}

// NewNetNS returns a namespace that is the host's network.
func (f *fakeRuntime) NewNetNS(name string) (NetNS, error) {
	return fakeNetNS("fake-netns:" + name), nil
}

type fakeNetNS string

func (n fakeNetNS) Path() string { return string(n) }
func (n fakeNetNS) Close() error { return nil }

// Start sets the fake root up and starts the main process.
func (f *fakeRuntime) Start(ctx context.Context, s *isolation.Spec) (Container, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("start %s: %w", s.ID, err)
	}
	f.mu.Lock()
	f.seq++
	f.started++
	root := filepath.Join(f.dir, fmt.Sprintf("c%d-%s", f.seq, sanitizeID(s.ID)))
	f.mu.Unlock()
	c := &fakeContainer{spec: s, root: root, ctx: ctx, exited: make(chan struct{})}
	if err := c.mount(); err != nil {
		os.RemoveAll(root)
		return nil, fmt.Errorf("start %s: %w", s.ID, err)
	}
	cmd, err := c.command(s.Process)
	if err != nil {
		c.Destroy()
		return nil, fmt.Errorf("start %s: %w", s.ID, err)
	}
	c.start = time.Now()
	if err := cmd.Start(); err != nil {
		c.Destroy()
		return nil, fmt.Errorf("start %s: %w", s.ID, err)
	}
	c.main = cmd
	go c.waitMain()
	return c, nil
}

func sanitizeID(id string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == ' ' {
			return '_'
		}
		return r
	}, id)
}

// fakeContainer is one fake container: a root dir and host processes.
type fakeContainer struct {
	spec   *isolation.Spec
	root   string
	ctx    context.Context
	start  time.Time
	main   *exec.Cmd
	exited chan struct{}
	res    isolation.Result
	err    error

	mu        sync.Mutex
	procs     []*exec.Cmd
	destroyed bool
	overlays  []fakeOverlay
}

// fakeOverlay is an emulated overlay mount: merged is a copy of the lowers,
// base a second copy to diff against.
type fakeOverlay struct {
	o            isolation.Overlay
	merged, base string
}

// path maps an absolute container path below the fake root.
func (c *fakeContainer) path(p string) string {
	if p == "" {
		p = "/"
	}
	return filepath.Join(c.root, filepath.Clean("/"+p))
}

func (c *fakeContainer) mount() error {
	if err := os.MkdirAll(c.root, 0o755); err != nil {
		return err
	}
	for _, m := range c.spec.Mounts {
		if err := c.mountOne(m); err != nil {
			return fmt.Errorf("mount %s: %w", m.Target, err)
		}
	}
	return nil
}

func (c *fakeContainer) mountOne(m isolation.Mount) error {
	target := c.path(m.Target)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	switch m.Type {
	case isolation.MountBind:
		os.RemoveAll(target)
		return os.Symlink(m.Source, target)
	case isolation.MountTmpfs:
		return os.MkdirAll(target, 0o755)
	case isolation.MountOverlay:
		base := target + ".fake-base"
		for _, d := range []string{target, base} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			for _, l := range m.Overlay.Lower {
				if err := applyLayer(l, d); err != nil {
					return err
				}
			}
		}
		c.overlays = append(c.overlays, fakeOverlay{o: m.Overlay, merged: target, base: base})
		return nil
	default:
		return fmt.Errorf("fake runtime: mount type %q not supported", m.Type)
	}
}

// command builds the host process for p, with its paths mapped.
func (c *fakeContainer) command(p isolation.Process) (*exec.Cmd, error) {
	if len(p.Args) == 0 {
		return nil, errors.New("no argv")
	}
	env := append([]string{}, p.Env...)
	path := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for i, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
			env = append(env[:i:i], env[i+1:]...)
			break
		}
	}
	env = append(env, "PATH="+c.hostPath(path))
	dir := c.path(p.Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cmd := exec.Command(c.lookup(p.Args[0]), p.Args[1:]...)
	cmd.Args[0] = p.Args[0]
	cmd.Env, cmd.Dir = env, dir
	cmd.Stdin, cmd.Stdout, cmd.Stderr = p.Stdin, p.Stdout, p.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = time.Second
	return cmd, nil
}

// hostPath maps a container PATH onto the Root.Lower dirs, top first; with no
// lower dirs it is the host's PATH.
func (c *fakeContainer) hostPath(path string) string {
	lowers := c.spec.Root.Lower
	if len(lowers) == 0 {
		return os.Getenv("PATH")
	}
	var out []string
	for _, p := range filepath.SplitList(path) {
		for i := len(lowers) - 1; i >= 0; i-- {
			out = append(out, filepath.Join(lowers[i], p))
		}
	}
	return strings.Join(out, ":")
}

// lookup finds an absolute argv[0] in the lower dirs, top first.
func (c *fakeContainer) lookup(arg0 string) string {
	if !filepath.IsAbs(arg0) {
		if p, err := exec.LookPath(arg0); err == nil && len(c.spec.Root.Lower) == 0 {
			return p
		}
		for _, d := range filepath.SplitList(c.hostPath("/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")) {
			if _, err := os.Stat(filepath.Join(d, arg0)); err == nil {
				return filepath.Join(d, arg0)
			}
		}
		return arg0
	}
	for i := len(c.spec.Root.Lower) - 1; i >= 0; i-- {
		p := filepath.Join(c.spec.Root.Lower[i], arg0)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return arg0
}

// waitMain waits for the main process; as isolation's init does, it then
// kills whatever else the step left, and what the step wrote is in the
// upper dirs before Wait returns.
func (c *fakeContainer) waitMain() {
	c.res, c.err = c.waitCmd(c.ctx, c.main, c.start)
	syscall.Kill(-c.main.Process.Pid, syscall.SIGKILL)
	if err := c.writeUppers(); err != nil && c.err == nil {
		c.err = err
	}
	close(c.exited)
}

// writeUppers writes the overlays' differences to their upper dirs.
func (c *fakeContainer) writeUppers() error {
	var errs []error
	for _, o := range c.overlays {
		if o.o.Upper != "" {
			errs = append(errs, diffTree(o.base, o.merged, o.o.Upper))
		}
	}
	return errors.Join(errs...)
}

// waitCmd waits for cmd, killing its process group when ctx is done.
func (c *fakeContainer) waitCmd(ctx context.Context, cmd *exec.Cmd, start time.Time) (isolation.Result, error) {
	stop := context.AfterFunc(ctx, func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	err := cmd.Wait()
	stopped := !stop()
	r := isolation.Result{WallTime: time.Since(start)}
	if stopped {
		r.TimedOut = errors.Is(ctx.Err(), context.DeadlineExceeded)
		r.Canceled = !r.TimedOut
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			r.Signal, r.ExitCode = ws.Signal(), 128+int(ws.Signal())
		} else {
			r.ExitCode = ws.ExitStatus()
		}
	case errors.Is(err, exec.ErrWaitDelay):
	default:
		return r, err
	}
	if ps := cmd.ProcessState; ps != nil {
		r.CPUTime = ps.UserTime() + ps.SystemTime()
		if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
			r.PeakMemory = ru.Maxrss * 1024
		}
	}
	return r, nil
}

// Wait returns the main process's end.
func (c *fakeContainer) Wait() (isolation.Result, error) {
	<-c.exited
	return c.res, c.err
}

// Exec runs p as another host process with the container's mapping.
func (c *fakeContainer) Exec(ctx context.Context, p isolation.Process) (isolation.Result, error) {
	c.mu.Lock()
	if c.destroyed {
		c.mu.Unlock()
		return isolation.Result{}, errors.New("exec: container destroyed")
	}
	c.mu.Unlock()
	select {
	case <-c.exited:
		if !c.spec.KeepAlive {
			return isolation.Result{}, errors.New("exec: container has exited")
		}
	default:
	}
	cmd, err := c.command(p)
	if err != nil {
		return isolation.Result{}, fmt.Errorf("exec: %w", err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return isolation.Result{}, fmt.Errorf("exec: %w", err)
	}
	c.mu.Lock()
	c.procs = append(c.procs, cmd)
	c.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()
	return c.waitCmd(ctx, cmd, start)
}

// Destroy kills every process, writes the overlays' differences to their
// upper dirs and removes the fake root.
func (c *fakeContainer) Destroy() error {
	c.mu.Lock()
	if c.destroyed {
		c.mu.Unlock()
		return nil
	}
	c.destroyed = true
	procs := c.procs
	c.mu.Unlock()
	if c.main != nil {
		syscall.Kill(-c.main.Process.Pid, syscall.SIGKILL)
		<-c.exited
	}
	for _, p := range procs {
		if p.Process != nil {
			syscall.Kill(-p.Process.Pid, syscall.SIGKILL)
		}
	}
	var errs []error
	if c.spec.KeepAlive { // an Exec after the main process may have written: again, afresh
		for _, o := range c.overlays {
			if o.o.Upper != "" {
				ents, _ := os.ReadDir(o.o.Upper)
				for _, e := range ents {
					errs = append(errs, os.RemoveAll(filepath.Join(o.o.Upper, e.Name())))
				}
			}
		}
		errs = append(errs, c.writeUppers())
	}
	return errors.Join(append(errs, os.RemoveAll(c.root))...)
}
