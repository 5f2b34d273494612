package isolation

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// initSocketFD is where init finds its end of the control socketpair.
const initSocketFD = 3

// containerInit is the container's PID 1: the init binary (Options.Init,
// else pipe itself) executed from its sealed handle into fresh namespaces.
// It waits for its config (the parent sends it only once the cgroup is set
// up), builds the root file system, drops its own privileges, starts the
// main process, and then reaps, forwards signals and starts Exec'd
// processes until the main process ends.
//
// Its goroutine stays locked to one thread, and every process is forked from
// that thread: a joined network namespace and the cgroup namespace are per
// thread until a child inherits them.
//
// It drops the bounding set before anything makes the Go runtime start more
// threads (signal handling, the spare threads): each capability dropped costs
// one stop-the-world signal to every thread (see dropBoundingSet).
func containerInit() int {
	runtime.LockOSThread()
	// Non-dumpable: no process of the container may ptrace init or open its
	// /proc/1/exe, mem or fds (CVE-2019-5736 and kin).
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "pipe init: PR_SET_DUMPABLE:", err)
		return 3
	}
	// Exec'd from /proc/self/fd/N, init would show as "N" in top and ps.
	_ = unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&[]byte("pipe-init\x00")[0])), 0, 0, 0)
	syscall.Umask(0)
	c := newConn(initSocketFD, maxMessage)
	if err := dropBoundingSet(); err != nil {
		reportError(c, 0, "drop the bounding set", err)
		return 3
	}
	// SIGINT and SIGTERM that come during setup wait for the main process.
	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, syscall.SIGCHLD, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	// Nothing pipe had open may reach a container process (CVE-2024-21626).
	if err := unix.CloseRange(initSocketFD, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		fmt.Fprintln(os.Stderr, "pipe init: close_range:", err)
		return 3
	}
	reserveThreads(spareThreads)
	in, err := receiveConfig(c)
	if err != nil {
		reportError(c, 0, "receive config", err)
		return 3
	}
	if err := in.setup(); err != nil {
		reportError(c, 0, "set up container", err)
		return 3
	}
	return in.loop(sigs)
}

// spareThreads is how many idle OS threads init makes before the container
// runs anything (see reserveThreads).
const spareThreads = 4

// reserveThreads makes the Go runtime start n more OS threads now, and keep
// them idle for later. Init's threads count against the container's pids
// limit, and the Go runtime dies when it cannot start a thread it needs: a
// fork bomb that takes every pid must not find init short of one. Each
// goroutine locks a thread of its own (so the next one needs a new thread),
// then unlocks it and ends, which leaves the thread idle, not gone.
func reserveThreads(n int) {
	var locked, release sync.WaitGroup
	locked.Add(n)
	release.Add(1)
	for range n {
		go func() {
			runtime.LockOSThread()
			locked.Done()
			release.Wait()
			runtime.UnlockOSThread()
		}()
	}
	locked.Wait()
	release.Done()
}

// initState is init's view of the container.
type initState struct {
	conn  *conn
	cfg   *initConfig
	stdio []int // the main process's stdin, stdout, stderr (nil with a TTY)
	netns int   // a network namespace to join, or -1

	procs    map[int]int // pid -> process ID (0 = main)
	mainPid  int
	mainDone bool
}

// receiveConfig reads the config message and its fds.
func receiveConfig(c *conn) (*initState, error) {
	m, fds, err := c.recv()
	if err != nil {
		return nil, err
	}
	if m.Kind != msgConfig || m.Config == nil {
		closeFds(fds)
		return nil, fmt.Errorf("expected a config message, got %q", m.Kind)
	}
	in := &initState{conn: c, cfg: m.Config, netns: -1, procs: map[int]int{}}
	want := 0
	if !m.Config.Process.TTY {
		want = 3
	}
	if m.Config.JoinNet {
		want++
	}
	if len(fds) != want {
		closeFds(fds)
		return nil, fmt.Errorf("config came with %d fds, want %d", len(fds), want)
	}
	if !m.Config.Process.TTY {
		in.stdio = fds[:3]
	}
	if m.Config.JoinNet {
		in.netns = fds[len(fds)-1]
	}
	return in, nil
}

// setup builds the container, then drops init's privileges to the
// container's and starts the main process.
func (in *initState) setup() error {
	if in.netns >= 0 {
		if err := unix.Setns(in.netns, unix.CLONE_NEWNET); err != nil {
			return &os.PathError{Op: "setns", Path: "network namespace", Err: err}
		}
		unix.Close(in.netns)
	}
	// A prestarted init (which holds its thread, from which every process
	// of the container is forked) makes the network namespace it was not
	// cloned with.
	if in.cfg.UnshareNet {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return &os.PathError{Op: "unshare", Path: "network namespace", Err: err}
		}
	}
	// Entered now, after the parent moved init into its cgroup: the
	// container then sees its own cgroup as the root.
	if err := unix.Unshare(unix.CLONE_NEWCGROUP); err != nil {
		return &os.PathError{Op: "unshare", Path: "cgroup namespace", Err: err}
	}
	if err := setupRootfs(in.cfg); err != nil {
		return err
	}
	if err := in.setupSystem(); err != nil {
		return err
	}
	if err := dropPrivileges(in.cfg.Seccomp); err != nil {
		return err
	}
	syscall.Umask(0o022)
	return in.start(0, &in.cfg.Process, in.stdio)
}

// setupSystem sets the hostname, brings loopback up and sets rlimits.
func (in *initState) setupSystem() error {
	if err := unix.Sethostname([]byte(in.cfg.Hostname)); err != nil {
		return &os.PathError{Op: "sethostname", Path: in.cfg.Hostname, Err: err}
	}
	if in.cfg.NewNet {
		if err := loopbackUp(); err != nil {
			return err
		}
	}
	return setRlimits(in.cfg.NoFile)
}

// dropPrivileges gives init (and so every process it starts) the
// container's privileges: Podman's capabilities, no_new_privs, and the
// seccomp filter the parent compiled (or, without one, the default profile
// compiled here).
func dropPrivileges(filter []byte) error {
	if err := dropCapabilities(); err != nil {
		return err
	}
	if err := setNoNewPrivs(); err != nil {
		return err
	}
	if len(filter) == 0 {
		return loadSeccomp()
	}
	prog, err := decodeFilter(filter)
	if err != nil {
		return err
	}
	if err := seccompSetModeFilter(prog); err != nil {
		return fmt.Errorf("load seccomp filter (%d instructions): %w", len(prog), err)
	}
	return nil
}

// reportError sends err to the parent as JSON; stderr is the fallback.
func reportError(c *conn, id int, op string, err error) {
	m := &message{Kind: msgError, ID: id, Error: &setupError{Op: op, Msg: err.Error()}}
	if serr := c.send(m); serr != nil {
		fmt.Fprintf(os.Stderr, "pipe init: %s: %v (and reporting it: %v)\n", op, err, serr)
	}
}

// setRlimits sets the container's rlimits explicitly, never inheriting
// pipe's (Go raises its own NOFILE), and never above the current hard
// limits (raising one needs CAP_SYS_RESOURCE: EPERM).
func setRlimits(nofile uint64) error {
	var cur syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &cur); err != nil {
		return fmt.Errorf("getrlimit NOFILE: %w", err)
	}
	want := syscall.Rlimit{Cur: 1024, Max: min(cur.Max, 1<<20)}
	if nofile > 0 {
		want = syscall.Rlimit{Cur: min(nofile, cur.Max), Max: min(nofile, cur.Max)}
	}
	want.Cur = min(want.Cur, want.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		return fmt.Errorf("setrlimit NOFILE %d:%d: %w", want.Cur, want.Max, err)
	}
	var nproc unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &nproc); err != nil {
		return fmt.Errorf("getrlimit NPROC: %w", err)
	}
	nproc.Cur = nproc.Max
	if err := unix.Setrlimit(unix.RLIMIT_NPROC, &nproc); err != nil {
		return fmt.Errorf("setrlimit NPROC: %w", err)
	}
	return nil
}

// loopbackUp brings lo up in a fresh network namespace (SIOCSIFFLAGS).
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("bring lo up: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("bring lo up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: SIOCGIFFLAGS: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bring lo up: SIOCSIFFLAGS: %w", err)
	}
	return nil
}

// errParentGone means the control socket closed: pipe died or destroyed us.
var errParentGone = errors.New("parent closed the control socket")
