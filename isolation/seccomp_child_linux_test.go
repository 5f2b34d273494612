package isolation

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// privilegesChildEnv makes the test binary a child of the privilege tests:
// it drops its own privileges as a container init does, probes what it may
// still do, prints the results as JSON on stdout and exits.
const privilegesChildEnv = "PIPE_PRIVILEGES_TEST_CHILD"

// runPrivilegesTestChild runs the child mode named by privilegesChildEnv and
// exits; it returns false at once when the variable is unset. Call it from
// TestMain before m.Run.
func runPrivilegesTestChild() bool {
	mode := os.Getenv(privilegesChildEnv)
	if mode == "" {
		return false
	}
	out, err := privilegesChild(mode)
	if err != nil {
		fmt.Fprintln(os.Stderr, "privileges test child:", err)
		os.Exit(3)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(3)
	}
	os.Exit(0)
	return true
}

// privilegesChild applies what mode says and probes.
//   - seccomp: no_new_privs and the filter, with every capability kept, so
//     an EPERM can only come from the filter
//   - all: the bounding set, extra threads, then the other capabilities,
//     no_new_privs and the filter, as the container init does; then status
//     and process checks
//   - x32: the filter, then an x32 syscall, which must kill the process
func privilegesChild(mode string) (map[string]string, error) {
	unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{}) // a killed child leaves no core file
	runtime.LockOSThread()                           // as the container init does: children fork from this thread
	if mode == "all" {
		// As init does: the bounding set before the extra threads, which
		// must inherit it, the rest after.
		if err := dropBoundingSet(); err != nil {
			return nil, err
		}
		startIdleThreads(4)
		if err := dropCapabilities(); err != nil {
			return nil, err
		}
	}
	if err := setNoNewPrivs(); err != nil {
		return nil, err
	}
	if err := loadSeccomp(); err != nil {
		return nil, err
	}
	switch mode {
	case "seccomp":
		return seccompProbes(), nil
	case "all":
		return privilegeChecks(), nil
	case "x32":
		syscall.RawSyscall(x32SyscallBit|unix.SYS_GETPID, 0, 0, 0)
		return map[string]string{"x32": "survived"}, nil
	}
	return nil, fmt.Errorf("unknown mode %q", mode)
}

// startIdleThreads makes sure the process has at least n more OS threads,
// parked forever, which must end up with the same privileges.
func startIdleThreads(n int) {
	started := make(chan struct{})
	for i := 0; i < n; i++ {
		go func() {
			runtime.LockOSThread()
			started <- struct{}{}
			select {}
		}()
	}
	for i := 0; i < n; i++ {
		<-started
	}
}

// errnoResult is "OK" or the errno's name.
func errnoResult(e syscall.Errno) string {
	if e == 0 {
		return "OK"
	}
	return unix.ErrnoName(e)
}

func probeSyscall(trap uintptr, args ...uintptr) string {
	var a [6]uintptr
	copy(a[:], args)
	_, _, e := syscall.Syscall6(trap, a[0], a[1], a[2], a[3], a[4], a[5])
	return errnoResult(e)
}

// mountProbe tries to mount a tmpfs on a path that does not exist.
func mountProbe() string {
	src, tgt, fs := []byte("none\x00"), []byte("/nonexistent/pipe-test\x00"), []byte("tmpfs\x00")
	_, _, e := syscall.Syscall6(unix.SYS_MOUNT, uintptr(unsafe.Pointer(&src[0])),
		uintptr(unsafe.Pointer(&tgt[0])), uintptr(unsafe.Pointer(&fs[0])), 0, 0, 0)
	return errnoResult(e)
}

// addKeyProbe tries to add a key of an empty (invalid) type.
func addKeyProbe() string {
	typ, desc := []byte("\x00"), []byte("x\x00")
	keySession := -3
	_, _, e := syscall.Syscall6(unix.SYS_ADD_KEY, uintptr(unsafe.Pointer(&typ[0])),
		uintptr(unsafe.Pointer(&desc[0])), 0, 0, uintptr(keySession), 0)
	return errnoResult(e)
}

// seccompProbes calls syscalls with arguments for which the kernel itself
// would answer something other than EPERM, so EPERM means the filter.
func seccompProbes() map[string]string {
	keySession := -3
	r := map[string]string{
		"unshare":           probeSyscall(unix.SYS_UNSHARE, unix.CLONE_NEWUSER|unix.CLONE_NEWNS),
		"mount":             mountProbe(),
		"keyctl":            probeSyscall(unix.SYS_KEYCTL, unix.KEYCTL_GET_KEYRING_ID, uintptr(keySession), 0),
		"add_key":           addKeyProbe(),
		"kexec_load":        probeSyscall(unix.SYS_KEXEC_LOAD, 0, 1<<20, 0, 0xffff0000),
		"open_by_handle_at": probeSyscall(unix.SYS_OPEN_BY_HANDLE_AT, ^uintptr(0), 0, 0),
		"bpf":               probeSyscall(unix.SYS_BPF, ^uintptr(0), 0, 0),
		"setns":             probeSyscall(unix.SYS_SETNS, ^uintptr(0), 0),
		"clone_newns":       probeSyscall(unix.SYS_CLONE, unix.CLONE_NEWNS|unix.CLONE_FS),
		"clone_plain":       probeSyscall(unix.SYS_CLONE, unix.CLONE_THREAD),
		"clone3":            probeSyscall(unix.SYS_CLONE3, 0, 0),
		"ptrace":            probeSyscall(unix.SYS_PTRACE, 0x7fffffff, 0, 0, 0),
		"unknown_syscall":   probeSyscall(1000),
		"personality_query": probeSyscall(unix.SYS_PERSONALITY, 0xffffffff),
		"personality_bsd":   probeSyscall(unix.SYS_PERSONALITY, 0x0006),
		"personality_32":    probeSyscall(unix.SYS_PERSONALITY, 0x0008),
		"personality_reset": probeSyscall(unix.SYS_PERSONALITY, 0),
	}
	r["socket_inet"] = socketProbe(unix.AF_INET)
	r["socket_unix"] = socketProbe(unix.AF_UNIX)
	r["socket_vsock"] = socketProbe(unix.AF_VSOCK)
	r["socket_inet_high_bits"] = socketProbe(1<<32 | unix.AF_INET)
	return r
}

// socketProbe creates and closes a stream socket.
func socketProbe(domain uint64) string {
	fd, _, e := syscall.Syscall(unix.SYS_SOCKET, uintptr(domain), unix.SOCK_STREAM, 0)
	if e == 0 {
		unix.Close(int(fd))
	}
	return errnoResult(e)
}

// privilegeChecks reports each thread's privileges and what child
// processes can still do.
func privilegeChecks() map[string]string {
	r := map[string]string{}
	tasks, _ := filepath.Glob("/proc/self/task/*/status")
	r["threads"] = fmt.Sprint(len(tasks))
	r["all_threads"] = fmt.Sprint(privilegesAllThreads())
	r["this_thread"] = statusFields("/proc/thread-self/status")
	for _, f := range tasks {
		r["task "+filepath.Base(filepath.Dir(f))] = statusFields(f)
	}
	r["mount"] = mountProbe()
	r["socket_inet"] = socketProbe(unix.AF_INET)
	r["socket_unix"] = socketProbe(unix.AF_UNIX)
	r["exec_true"] = probeRun(exec.Command("/bin/busybox", "true"))
	r["exec_root_status"] = probeRun(exec.Command("/bin/busybox", "grep", "-E", "^(Cap|NoNewPrivs|Seccomp:)", "/proc/self/status"))
	nobody := exec.Command("/bin/busybox", "sh", "-c", "id -u; id -g; grep -E '^(CapEff|CapPrm|NoNewPrivs|Seccomp:)' /proc/self/status")
	nobody.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	r["exec_nobody"] = probeRun(nobody)
	r["signal_wait"], r["pidfd"] = signalAndWait()
	return r
}

// statusFields picks the privilege lines of a /proc status file.
func statusFields(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	var keep []string
	for _, l := range strings.Split(string(b), "\n") {
		for _, p := range []string{"Cap", "NoNewPrivs:", "Seccomp:"} {
			if strings.HasPrefix(l, p) {
				keep = append(keep, strings.Join(strings.Fields(l), " "))
			}
		}
	}
	return strings.Join(keep, "\n")
}

func probeRun(c *exec.Cmd) string {
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Sprintf("error %v: %s", err, out)
	}
	return strings.TrimSpace("OK\n" + string(out))
}

// signalAndWait starts a sleep, kills it and waits, which uses a pidfd
// (pidfd_send_signal, waitid P_PIDFD) when os/exec got one from clone.
func signalAndWait() (result, pidfd string) {
	c := exec.Command("/bin/busybox", "sleep", "100")
	if err := c.Start(); err != nil {
		return "start: " + err.Error(), ""
	}
	pidfd = "unknown"
	if h := reflect.ValueOf(c.Process).Elem().FieldByName("handle"); h.IsValid() && h.Kind() == reflect.Pointer {
		pidfd = fmt.Sprint(!h.IsNil())
	}
	if err := c.Process.Signal(syscall.SIGTERM); err != nil {
		return "signal: " + err.Error(), pidfd
	}
	err := c.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() && ws.Signal() == syscall.SIGTERM {
			return "OK", pidfd
		}
	}
	return fmt.Sprintf("wait: %v", err), pidfd
}
