package isolation

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// defaultPath is PATH when the process's environment has none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// maxUserFile bounds what init reads of the image's /etc/passwd and /etc/group.
const maxUserFile = 4 << 20

// start forks and execs process id (0 = main) with the container's
// privileges and p's user, env and dir; stdio are its three streams (nil
// with a TTY: init makes a pty and sends its master to the parent).
func (in *initState) start(id int, p *procConfig, stdio []int) error {
	defer closeFds(stdio)
	u, err := lookupExecUser(p.User)
	if err != nil {
		return err
	}
	if in.cfg.SingleID && (u.UID != 0 || u.GID != 0) {
		return fmt.Errorf("user %q (%d:%d): %w", p.User, u.UID, u.GID, errSingleUser)
	}
	env := processEnv(p.Env, u.Home)
	argv0, err := lookPath(p.Args, env)
	if err != nil {
		return err
	}
	dir := p.Dir
	if dir == "" {
		dir = "/"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("working directory: %w", err)
	}
	var master int = -1
	sys := &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID, Groups: u.Groups, NoSetGroups: in.cfg.SingleID},
		Setpgid:    id != 0 && !p.TTY,
	}
	files := stdio
	if p.TTY {
		var slave int
		master, slave, err = openPty(p.Size, u.UID)
		if err != nil {
			return err
		}
		defer unix.Close(slave)
		files = []int{slave, slave, slave}
		sys.Setsid, sys.Setctty, sys.Ctty = true, true, 0
	}
	pid, err := forkExec(argv0, p.Args, &syscall.ProcAttr{Dir: dir, Env: env, Files: uintptrs(files), Sys: sys})
	if err != nil {
		closeFds([]int{master})
		return err
	}
	in.procs[pid] = id
	if id == 0 {
		in.mainPid = pid
	}
	return in.sendStarted(id, pid, master)
}

// forkExec starts argv0, after marking every fd above 2 close-on-exec.
func forkExec(argv0 string, args []string, attr *syscall.ProcAttr) (int, error) {
	if err := unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC); err != nil {
		return 0, fmt.Errorf("close_range: %w", err)
	}
	pid, err := syscall.ForkExec(argv0, args, attr)
	if err != nil {
		return 0, fmt.Errorf("start %s: %w", argv0, err)
	}
	return pid, nil
}

func (in *initState) sendStarted(id, pid, master int) error {
	m := &message{Kind: msgStarted, ID: id, Pid: pid}
	if master < 0 {
		return in.conn.send(m)
	}
	defer unix.Close(master)
	return in.conn.send(m, master)
}

func uintptrs(fds []int) []uintptr {
	out := make([]uintptr, len(fds))
	for i, fd := range fds {
		out[i] = uintptr(fd)
	}
	return out
}

// lookupExecUser resolves user in the container's /etc/passwd and /etc/group.
func lookupExecUser(user string) (execUser, error) {
	passwd, err := readUserFile("/etc/passwd")
	if err != nil {
		return execUser{}, err
	}
	group, err := readUserFile("/etc/group")
	if err != nil {
		return execUser{}, err
	}
	u, err := resolveUser(user, bytes.NewReader(passwd), bytes.NewReader(group))
	if err != nil {
		return execUser{}, fmt.Errorf("user %q: %w", user, err)
	}
	return u, nil
}

// readUserFile reads an image's user database: only a regular file (not a
// fifo that blocks, not /dev/zero that never ends), at most maxUserFile.
// A missing one, or one that is not a regular file, is empty.
func readUserFile(name string) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil // a device or fifo (a hostile image?) is no user database
	}
	return io.ReadAll(io.LimitReader(f, maxUserFile))
}

// processEnv adds PATH and HOME when the environment lacks them.
func processEnv(env []string, home string) []string {
	out := append([]string(nil), env...)
	if _, ok := lookupEnv(env, "PATH"); !ok {
		out = append(out, "PATH="+defaultPath)
	}
	if _, ok := lookupEnv(env, "HOME"); !ok {
		out = append(out, "HOME="+home)
	}
	return out
}

func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(env[i], "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// lookPath finds args[0] in the process's PATH inside the container.
func lookPath(args []string, env []string) (string, error) {
	if len(args) == 0 || args[0] == "" {
		return "", fmt.Errorf("no command to run (empty Args)")
	}
	name := args[0]
	if strings.Contains(name, "/") {
		return name, nil
	}
	p, _ := lookupEnv(env, "PATH")
	for _, dir := range strings.Split(p, ":") {
		if dir == "" {
			dir = "."
		}
		cand := path.Join(dir, name)
		if st, err := os.Stat(cand); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return cand, nil
		}
	}
	return "", fmt.Errorf("%s: executable file not found in $PATH (%s) inside the container", name, p)
}

// openPty opens a pty pair in the container's own devpts instance, with the
// window size set and the slave owned by uid.
func openPty(size *WindowSize, uid uint32) (master, slave int, err error) {
	master, err = unix.Open("/dev/pts/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, -1, fmt.Errorf("open /dev/pts/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(master, unix.TIOCSPTLCK, 0); err != nil {
		unix.Close(master)
		return -1, -1, fmt.Errorf("unlock pty: %w", err)
	}
	r, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(master), unix.TIOCGPTPEER, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC)
	if slave = int(r); errno != 0 {
		err = errno
		unix.Close(master)
		return -1, -1, fmt.Errorf("open pty peer: %w", err)
	}
	if size != nil {
		_ = unix.IoctlSetWinsize(master, unix.TIOCSWINSZ, &unix.Winsize{Row: size.Rows, Col: size.Cols})
	}
	if err := unix.Fchown(slave, int(uid), -1); err != nil {
		closeFds([]int{master, slave})
		return -1, -1, fmt.Errorf("chown pty: %w", err)
	}
	return master, slave, nil
}
