package isolation

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// How pipe gets into its user namespace (rootlesskit's recipe, pure Go):
//
//  1. The user's pipe (the "outside" process) starts /proc/self/exe with
//     CLONE_NEWUSER|CLONE_NEWNS. Go cannot run newuidmap between clone and
//     exec, so the child execs at once, unmapped and without capabilities,
//     and waits on a pipe (stage "wait").
//  2. The outside process runs newuidmap and newgidmap on the child (setuid
//     helpers that check /etc/subuid and /etc/subgid), then writes one byte.
//  3. The child execs itself again: now it is uid 0 of a mapped namespace,
//     and the exec gives it every capability there (stage "root").
//
// With a single-id map no helper is needed: Go writes the maps itself
// before the child's exec, and the child starts in stage "root".
//
// The outside process forwards signals and exits with the child's status.
const (
	userNSStageEnv  = "PIPE_USERNS_STAGE"  // "wait" or "root"
	userNSParentEnv = "PIPE_USERNS_PARENT" // pid of the outside process
	userNSSyncFD    = 3                    // stage wait reads its go byte here
)

// CurrentUserNS returns the user namespace EnterUserNS started this pipe
// process in, or nil when pipe runs without one (as root, or before
// EnterUserNS). The map in the environment is believed only when the
// process's own uid_map says the same.
func CurrentUserNS() *UserNS {
	v := os.Getenv(userNSEnv)
	if v == "" {
		return nil
	}
	u, err := decodeUserNS(v)
	if err != nil {
		return nil
	}
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return nil
	}
	f := strings.Fields(string(b))
	if len(f) < 3 || f[0] != "0" || f[1] != strconv.Itoa(u.UID) {
		return nil
	}
	return u
}

// NeedsUserNS says whether this process must enter a user namespace to run
// containers: it is not root and not in one of pipe's already.
func NeedsUserNS() bool {
	return os.Geteuid() != 0 && CurrentUserNS() == nil
}

// EnterUserNS runs this pipe command again (the same arguments) inside a
// new user namespace in which the calling user is root, and returns its
// exit code. warn receives what the user should know, such as a single-id
// map and what it limits. Call it before anything else of the command runs.
func EnterUserNS(warn func(string)) (int, error) {
	runtime.LockOSThread() // Pdeathsig follows the thread that started the child
	u, err := planUserNS(warn)
	if err != nil {
		return 0, err
	}
	cmd, sync, err := startUserNSChild(u)
	if err != nil {
		return 0, err
	}
	if sync != nil {
		err := mapUserNS(cmd.Process.Pid, u)
		if err == nil {
			_, err = sync.Write([]byte{1})
		}
		sync.Close()
		if err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			return 0, err
		}
	}
	return waitForwarding(cmd), nil
}

// planUserNS finds the user's subordinate ranges, and falls back to a
// single-id map (with a warning that says why and what it limits) when
// they cannot be mapped.
func planUserNS(warn func(string)) (*UserNS, error) {
	u := &UserNS{UID: os.Getuid(), GID: os.Getgid()}
	name := strconv.Itoa(u.UID)
	if pw, err := user.LookupId(name); err == nil {
		name = pw.Username
	}
	subu, err := readSubIDs("/etc/subuid", name, u.UID)
	if err != nil {
		return nil, fmt.Errorf("rootless: %w", err)
	}
	subg, err := readSubIDs("/etc/subgid", name, u.GID)
	if err != nil {
		return nil, fmt.Errorf("rootless: %w", err)
	}
	why := ""
	switch {
	case len(subu) == 0 || len(subg) == 0:
		why = fmt.Sprintf("%s has no subordinate ids in /etc/subuid and /etc/subgid (add some as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 %s)", name, name)
	case noNewPrivs():
		why = "no_new_privs is set on pipe (systemd NoNewPrivileges=, docker --security-opt no-new-privileges, Kubernetes allowPrivilegeEscalation: false), which disables the setuid newuidmap"
	case !helpersInstalled():
		why = "newuidmap and newgidmap are missing (install them as root: apt-get install uidmap)"
	}
	if why != "" {
		warn("rootless: single-uid mode: " + why + ". Until then your uid is root in every container and no other uid exists: " +
			"files of other owners in images belong to root, and steps cannot chown to or run as another user.")
		return u, nil
	}
	if len(subu) > 339 || len(subg) > 339 {
		return nil, errors.New("rootless: more than 339 subordinate ranges: the kernel maps at most 340 lines; merge them in /etc/subuid and /etc/subgid")
	}
	u.SubUIDs, u.SubGIDs = subu, subg
	return u, nil
}

func helpersInstalled() bool {
	_, e1 := exec.LookPath("newuidmap")
	_, e2 := exec.LookPath("newgidmap")
	return e1 == nil && e2 == nil
}

// noNewPrivs reads NoNewPrivs from /proc/self/status.
func noNewPrivs() bool {
	b, err := os.ReadFile("/proc/self/status")
	return err == nil && strings.Contains(string(b), "\nNoNewPrivs:\t1")
}

// startUserNSChild starts pipe again in a new user and mount namespace.
// With subordinate ranges it returns the write end of the sync pipe: the
// child waits for one byte on it after the maps are written.
func startUserNSChild(u *UserNS) (*exec.Cmd, *os.File, error) {
	cmd := &exec.Cmd{Path: "/proc/self/exe", Args: os.Args, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	sys := &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWUSER | unix.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	cmd.SysProcAttr = sys
	env := append(os.Environ(), userNSEnv+"="+u.encode(), userNSParentEnv+"="+strconv.Itoa(os.Getpid()))
	var r, w *os.File
	var err error
	if u.Single() {
		sys.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: u.UID, Size: 1}}
		sys.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: u.GID, Size: 1}}
		sys.GidMappingsEnableSetgroups = false
		env = append(env, userNSStageEnv+"=root")
	} else {
		if r, w, err = os.Pipe(); err != nil {
			return nil, nil, fmt.Errorf("rootless: %w", err)
		}
		cmd.ExtraFiles = []*os.File{r}
		env = append(env, userNSStageEnv+"=wait")
	}
	cmd.Env = env
	err = cmd.Start()
	if r != nil {
		r.Close()
	}
	if err != nil {
		if w != nil {
			w.Close()
		}
		return nil, nil, userNSBlocked(procSys, err)
	}
	return cmd, w, nil
}

// mapUserNS writes the child's uid and gid maps through newuidmap and
// newgidmap: 0 is the user, 1 and up the subordinate ranges.
func mapUserNS(pid int, u *UserNS) error {
	for _, m := range []struct {
		tool string
		own  int
		subs []IDRange
	}{{"newuidmap", u.UID, u.SubUIDs}, {"newgidmap", u.GID, u.SubGIDs}} {
		args := []string{strconv.Itoa(pid), "0", strconv.Itoa(m.own), "1"}
		next := 1
		for _, r := range m.subs {
			args = append(args, strconv.Itoa(next), strconv.Itoa(r.Host), strconv.Itoa(r.Count))
			next += r.Count
		}
		out, err := exec.Command(m.tool, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("rootless: %s %s: %w: %s (check your lines in /etc/subuid and /etc/subgid, and that %s is setuid root or has file capabilities)",
				m.tool, strings.Join(args, " "), err, strings.TrimSpace(string(out)), m.tool)
		}
	}
	return nil
}

// waitForwarding waits for the child and returns its exit code (128+N for
// a signal), forwarding SIGTERM, SIGHUP and SIGQUIT. SIGINT is ignored
// here: the terminal sends it to the child as well.
func waitForwarding(cmd *exec.Cmd) int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				if s != syscall.SIGINT {
					_ = cmd.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(done)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	if err != nil {
		return 3
	}
	return 0
}

// maybeUserNSStage runs the stages of a child started by EnterUserNS; it
// returns at once in any other process, and in stage root once the process
// is ready to run pipe's command.
func maybeUserNSStage() {
	switch os.Getenv(userNSStageEnv) {
	case "wait":
		userNSWait()
	case "root":
		if err := userNSRoot(); err != nil {
			fmt.Fprintf(os.Stderr, "pipe: %v\n", err)
			os.Exit(3)
		}
	}
}

// userNSWait waits for the maps, then execs pipe again to gain the
// namespace's capabilities.
func userNSWait() {
	b := make([]byte, 1)
	if n, _ := unix.Read(userNSSyncFD, b); n != 1 {
		os.Exit(3) // the outside process died, or failed and said why
	}
	unix.Close(userNSSyncFD)
	os.Setenv(userNSStageEnv, "root")
	err := syscall.Exec("/proc/self/exe", os.Args, os.Environ())
	fmt.Fprintf(os.Stderr, "pipe: rootless: re-exec in the user namespace: %v\n", err)
	os.Exit(3)
}

// userNSRoot prepares the process that runs pipe's command inside the
// namespace: it dies with the outside process, is dumpable (the exec that
// gave it capabilities made it not), and its mounts propagate nowhere.
func userNSRoot() error {
	// The main goroutine keeps the main thread: no other goroutine (such as
	// one that enters a network namespace for good) may take it, as
	// /proc/self/ns/* are the main thread's.
	runtime.LockOSThread()
	parent, _ := strconv.Atoi(os.Getenv(userNSParentEnv))
	os.Unsetenv(userNSStageEnv)
	os.Unsetenv(userNSParentEnv)
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("rootless: PR_SET_PDEATHSIG: %w", err)
	}
	if os.Getppid() != parent {
		os.Exit(3) // the outside process is gone already
	}
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 1, 0, 0, 0)
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return userNSPowerless(procSys, err)
	}
	return nil
}
