package isolation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Start creates the container and starts its main process. It returns once
// the process runs, or with the error that kept it from running (then
// nothing of the container is left). ctx bounds the container's whole life:
// when it is canceled every process in the container is killed
// (Result.Canceled), when its deadline passes too (Result.TimedOut).
func (r *Runtime) Start(ctx context.Context, s *Spec) (*Container, error) {
	if err := validateSpec(s); err != nil {
		return nil, fmt.Errorf("isolation: %w", err)
	}
	if err := r.checkLimits(s); err != nil {
		return nil, fmt.Errorf("isolation: %w", err)
	}
	c := r.newContainer(s)
	if err := c.start(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("start container %s: %w", s.ID, err), c.Destroy())
	}
	return c, nil
}

func (r *Runtime) newContainer(s *Spec) *Container {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := s.ID
	if len(name) > 119 {
		name = name[:119]
	}
	name += "-" + hex.EncodeToString(b[:])
	return &Container{
		r: r, spec: *s, name: name,
		scratch: filepath.Join(r.opts.ScratchDir, name),
		procs:   map[int]*procWaiter{}, stderr: &tailBuffer{max: 4096},
		gone: make(chan struct{}), initDone: make(chan struct{}), mainDone: make(chan struct{}),
	}
}

// start runs the container's setup in the order that keeps cleanup
// possible on every path: state record, scratch, cgroup, init. With a
// prestarted init (init_pool_linux.go) the record, cgroup and init exist
// already: the container adopts them first.
func (c *Container) start(ctx context.Context) error {
	var in *preparedInit
	if usable(&c.spec) {
		in = c.r.inits.take()
	}
	if in != nil {
		if err := c.adopt(in); err != nil {
			return err
		}
	} else if err := writeRecord(containersDir(c.r.opts), stateRecord{Name: c.name, Owner: c.r.self, Scratch: c.scratch}); err != nil {
		return err
	}
	cfg, err := c.prepareScratch(in != nil)
	if err != nil {
		return err
	}
	if in == nil {
		if c.cg, err = c.r.cg.create(c.name, c.spec.Limits); err != nil {
			return err
		}
	}
	id, w := c.register() // the main process is ID 0
	var st *streams
	if !c.spec.Process.TTY {
		if st, err = newStreams(&c.spec.Process); err != nil {
			return fmt.Errorf("stdio: %w", err)
		}
	}
	var fds []int
	if in == nil {
		fds, err = c.launch(ctx, cfg, st)
	} else {
		c.stopCtx = context.AfterFunc(ctx, func() { c.onContextDone(ctx) })
		fds, err = c.initFds(cfg, st)
	}
	if err != nil {
		if st != nil {
			st.abort(nil)
		}
		return err
	}
	return c.release(id, w, cfg, st, fds)
}

// release sends init its config (after the cgroup is set up) and waits
// until the main process runs.
func (c *Container) release(id int, w *procWaiter, cfg *initConfig, st *streams, fds []int) error {
	err := c.conn.send(&message{Kind: msgConfig, ID: id, Config: cfg}, fds...)
	if st != nil {
		st.sent()
	}
	if c.netns != nil {
		c.netns.Close()
	}
	if errors.Is(err, unix.EPIPE) { // init is gone already: say how it ended
		return c.initDied()
	}
	if err != nil {
		return err
	}
	rep, err := c.awaitStart(w)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.mainStarted = true
	c.mu.Unlock()
	var tty *ttySession
	if rep.master != nil {
		tty = startTTY(rep.master, &c.spec.Process)
	}
	go c.waitMain(w, st, tty)
	return nil
}

// launch starts init in its namespaces and cgroup, paused on its config.
func (c *Container) launch(ctx context.Context, cfg *initConfig, st *streams) ([]int, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	child := os.NewFile(uintptr(pair[1]), "init-socket")
	defer child.Close()
	c.cmd = c.r.initCmd(child, c.cg, c.newNet, c.stderr)
	moved, err := c.r.startInit(c.cmd, c.cg)
	if err != nil {
		unix.Close(pair[0])
		c.cmd = nil
		return nil, fmt.Errorf("start container init: %w", err)
	}
	c.started = time.Now()
	c.conn = newConn(pair[0], maxReply)
	go c.readMessages()
	go func() { _ = c.cmd.Wait(); close(c.initDone) }()
	c.stopCtx = context.AfterFunc(ctx, func() { c.onContextDone(ctx) })
	if !moved {
		if err := c.cg.addProc(c.cmd.Process.Pid); err != nil {
			if errors.Is(err, unix.ESRCH) { // init is gone already: say how it ended
				return nil, c.initDied()
			}
			return nil, err
		}
	}
	return c.initFds(cfg, st)
}

// startInit starts cmd, the init of a container whose cgroup is cg, from
// the launcher's thread (onLauncher) and, where it can, inside cg: on v2
// cmd is cloned into it (CgroupFD, see initCmd), on v1 the thread carries
// it there (startInV1). inCgroup false says init still has to be moved
// (addProc). Where nothing could be started, it returns an error and
// nothing runs.
func (r *Runtime) startInit(cmd *exec.Cmd, cg *cgroup) (inCgroup bool, err error) {
	if _, ok := cg.fd(); ok || cg.version != 1 {
		return ok || cg.version == 0, onLauncher(cmd.Start)
	}
	home := r.cg.homeDirsV1(cg)
	var entered bool
	var backErr error
	err = onLauncher(func() error {
		var startErr error
		entered, startErr, backErr = cg.startInV1(home, cmd.Start)
		if !entered && backErr == nil {
			startErr = cmd.Start()
		}
		return startErr
	})
	if err == nil && backErr != nil { // started, but the thread is stuck in cg
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return false, backErr
	}
	return entered, errors.Join(err, backErr)
}

// initFds are the fds sent with init's config: the main process's stdio
// and the network namespace to join.
func (c *Container) initFds(cfg *initConfig, st *streams) ([]int, error) {
	var fds []int
	if st != nil {
		fds = st.fds()
	}
	if cfg.JoinNet {
		if c.netns == nil {
			f, err := os.Open(c.spec.Network.Path)
			if err != nil {
				return nil, fmt.Errorf("network namespace: %w", err)
			}
			c.netns = f // closed once sent
		}
		fds = append(fds, int(c.netns.Fd()))
	}
	return fds, nil
}

// initCmd is the init binary (Options.Init, else pipe) executed from its
// sealed handle as a container init, in fresh namespaces (with newNet a
// network namespace too) and, on cgroup v2, started inside cg.
func (r *Runtime) initCmd(sock *os.File, cg *cgroup, newNet bool, stderr io.Writer) *exec.Cmd {
	flags := uintptr(unix.CLONE_NEWNS | unix.CLONE_NEWPID | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC)
	if newNet {
		flags |= unix.CLONE_NEWNET
	}
	sys := &syscall.SysProcAttr{Cloneflags: flags, Pdeathsig: syscall.SIGKILL}
	if fd, ok := cg.fd(); ok {
		sys.UseCgroupFD, sys.CgroupFD = true, fd
	}
	return &exec.Cmd{
		Path:        fmt.Sprintf("/proc/self/fd/%d", r.exe.Fd()),
		Args:        []string{InitArg0},
		Env:         []string{"GOMAXPROCS=1"}, // init is sequential; fewer threads start faster and drop privileges faster
		ExtraFiles:  []*os.File{sock},
		Stderr:      stderr,
		SysProcAttr: sys,
		// init's stderr is a pipe pipe copies from; a task outside init's
		// pid namespace that holds it (a concurrent fork before its exec)
		// must not keep Wait, and with it the container's end, waiting.
		WaitDelay: time.Second,
	}
}

// prepareScratch makes the container's scratch dir (root mount point,
// upper/work dirs, /etc files) and returns init's config. A prestarted
// init was cloned without a network namespace of its own: it unshares one
// when it needs it.
func (c *Container) prepareScratch(prestarted bool) (*initConfig, error) {
	s := &c.spec
	cfg := &initConfig{
		Name: c.name, RootDir: filepath.Join(c.scratch, "root"), Root: s.Root,
		EtcDir: filepath.Join(c.scratch, "etc"), Mounts: s.Mounts, Hostname: hostnameOf(s),
		JoinNet: s.Network.Mode == NetworkJoin, KeepAlive: s.KeepAlive,
		NoFile: s.Limits.NoFile, Process: procConfigOf(&s.Process), Seccomp: c.r.seccomp,
	}
	if u := c.r.opts.UserNS; u != nil {
		cfg.UserNS, cfg.SingleID = true, u.Single()
	}
	if c.r.cg != nil {
		cfg.Cgroupfs = cgroupfsMounts(c.r.cg.layout)
	}
	if s.Network.Mode == "" || s.Network.Mode == NetworkNone {
		// A fresh namespace made ahead of time, or else one of init's own.
		switch c.netns = c.r.netns.take(); {
		case c.netns != nil:
			cfg.JoinNet = true
		case prestarted:
			cfg.NewNet, cfg.UnshareNet = true, true
		default:
			cfg.NewNet, c.newNet = true, true
		}
	}
	dirs := []string{c.scratch, cfg.RootDir, cfg.EtcDir}
	if s.Root.Upper == "" {
		cfg.Root.Upper, cfg.Root.Work = filepath.Join(c.scratch, "upper"), filepath.Join(c.scratch, "work")
		dirs = append(dirs, cfg.Root.Upper, cfg.Root.Work)
	}
	cfg.Scratch = make([]Overlay, len(s.Mounts))
	for i, m := range s.Mounts {
		if m.Type == MountOverlay && m.Overlay.Upper == "" {
			d := filepath.Join(c.scratch, fmt.Sprintf("m%d", i))
			cfg.Scratch[i] = Overlay{Upper: d + "/upper", Work: d + "/work"}
			dirs = append(dirs, d, d+"/upper", d+"/work")
		}
	}
	for _, d := range dirs {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, fmt.Errorf("scratch dir: %w", err)
		}
	}
	if err := writeEtcFiles(cfg.EtcDir, cfg.Hostname, s); err != nil {
		return nil, err
	}
	cfg.Process.Size = terminalSizeOf(&s.Process)
	return cfg, nil
}

func hostnameOf(s *Spec) string {
	h := s.Hostname
	if h == "" {
		h = s.ID
	}
	if len(h) > 63 {
		h = h[:63]
	}
	return h
}

// writeEtcFiles writes the container's /etc/hosts, hostname and resolv.conf.
func writeEtcFiles(dir, hostname string, s *Spec) error {
	var hosts strings.Builder
	hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	fmt.Fprintf(&hosts, "127.0.1.1\t%s\n", hostname)
	names := make([]string, 0, len(s.Hosts))
	for n := range s.Hosts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&hosts, "%s\t%s\n", s.Hosts[n], n)
	}
	resolv := []byte("# pipe: this container has no network\n")
	if s.Network.Mode == NetworkHost {
		if b, err := os.ReadFile("/etc/resolv.conf"); err == nil {
			resolv = b
		}
	}
	files := map[string][]byte{"hosts": []byte(hosts.String()), "hostname": []byte(hostname + "\n"), "resolv.conf": resolv}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("write /etc/%s: %w", name, err)
		}
	}
	return nil
}

// waitMain waits for the main process's end and records its Result.
func (c *Container) waitMain(w *procWaiter, st *streams, tty *ttySession) {
	var status *exitStatus
	select {
	case s := <-w.exited:
		status = &s
	case <-c.gone:
		select {
		case s := <-w.exited:
			status = &s
		default:
		}
	}
	end := time.Now()
	c.mu.Lock()
	c.mainExited = true
	reason := c.killReason
	c.mu.Unlock()
	// When init says the main process was the last of the container (it
	// killed and reaped the rest first), the result does not wait for
	// init's own end, which takes the namespaces and mounts down (~1 ms of
	// RCU waits): Destroy waits for it. Else as before: without a status
	// init died, and its end says why; with one not Alone, a killed task
	// may still write until init is gone.
	var reapErr error
	if status == nil || !status.Alone && !c.spec.KeepAlive {
		reapErr = c.awaitInit()
	}
	c.finishStreams(st, tty)
	c.mainResult, c.mainErr = c.result(status, reason, end)
	if reapErr != nil {
		c.mainErr = errors.Join(c.mainErr, reapErr)
	}
	close(c.mainDone)
}

func (c *Container) finishStreams(st *streams, tty *ttySession) {
	grace := 2 * time.Second
	if st != nil {
		st.finish(grace)
	}
	if tty != nil {
		tty.finish(grace)
	}
}

// result builds the main process's Result from its status and the cgroup.
func (c *Container) result(status *exitStatus, reason killReason, end time.Time) (Result, error) {
	res := Result{WallTime: end.Sub(c.started), TimedOut: reason == killedTimeout, Canceled: reason == killedCanceled}
	stats, serr := c.cg.stats()
	res.PeakMemory, res.CPUTime, res.OOMKilled = stats.PeakMemory, stats.CPUTime, stats.OOMKilled
	switch {
	case status != nil:
		res.ExitCode, res.Signal = status.Code, syscall.Signal(status.Signal)
		if res.CPUTime == 0 {
			res.CPUTime = time.Duration(status.CPU)
		}
	case reason != notKilled || res.OOMKilled:
		res.ExitCode, res.Signal = 128+int(syscall.SIGKILL), syscall.SIGKILL
	default:
		return res, c.initDied()
	}
	if serr != nil {
		return res, serr
	}
	return res, nil
}

// Wait waits for the main process to end and returns how it ended. With
// KeepAlive the container stays up for Exec until Destroy. Without it, every
// other process of the container has been killed and reaped by then (init
// does that before it reports the main process; if one is stuck, Wait also
// waits for init's end), so nothing writes to the container's mounts any
// more; init itself may still be ending, which Destroy waits for.
func (c *Container) Wait() (Result, error) {
	<-c.mainDone
	return c.mainResult, c.mainErr
}
