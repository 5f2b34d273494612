package isolation

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// The parent and a container's init talk over a SOCK_SEQPACKET socketpair:
// one JSON message per packet, with file descriptors (stdio, a TTY master, a
// network namespace) attached as SCM_RIGHTS.

// msgKind says what a message is.
type msgKind string

const (
	msgConfig  msgKind = "config"  // parent->init: the container and its main process; releases init
	msgExec    msgKind = "exec"    // parent->init: start another process
	msgSignal  msgKind = "signal"  // parent->init: signal a process's group
	msgStarted msgKind = "started" // init->parent: a process runs (a TTY master attached)
	msgExited  msgKind = "exited"  // init->parent: a process ended
	msgError   msgKind = "error"   // init->parent: setup, or starting a process, failed
)

// maxMessage bounds one message to init (the config holds the environment);
// maxReply bounds one message from init.
const (
	maxMessage = 1 << 20
	maxReply   = 64 << 10
)

// message is one packet. ID 0 is the main process; Exec'd ones count up.
type message struct {
	Kind   msgKind     `json:"kind"`
	ID     int         `json:"id,omitempty"`
	Config *initConfig `json:"config,omitempty"`
	Proc   *procConfig `json:"proc,omitempty"`
	Pid    int         `json:"pid,omitempty"`
	Signal int         `json:"signal,omitempty"`
	Status *exitStatus `json:"status,omitempty"`
	Error  *setupError `json:"error,omitempty"`
}

// exitStatus is how a process ended, as init saw it in wait4.
type exitStatus struct {
	Code   int   `json:"code"`
	Signal int   `json:"signal,omitempty"`
	CPU    int64 `json:"cpu_ns,omitempty"` // user+system of it and its waited-for children
	// Alone, for the main process: every other process of the container
	// was killed and reaped before init reported it, so nothing writes to
	// the container's file systems any more.
	Alone bool `json:"alone,omitempty"`
}

// setupError is an error inside init, reported as JSON.
type setupError struct {
	Op  string `json:"op"`
	Msg string `json:"msg"`
}

func (e *setupError) Error() string { return e.Op + ": " + e.Msg }

// initConfig is what init needs to build the container.
type initConfig struct {
	Name       string     `json:"name"`
	RootDir    string     `json:"root_dir"` // host path where the root is mounted (in init's mount ns)
	Root       Overlay    `json:"root"`
	EtcDir     string     `json:"etc_dir"` // host dir with generated hosts, hostname, resolv.conf
	Mounts     []Mount    `json:"mounts,omitempty"`
	Scratch    []Overlay  `json:"scratch,omitempty"` // Mounts[i] of type overlay with an empty upper: the scratch upper/work
	Hostname   string     `json:"hostname"`
	NewNet     bool       `json:"new_net,omitempty"`     // a fresh netns: bring lo up
	UnshareNet bool       `json:"unshare_net,omitempty"` // with NewNet: init was cloned without one, it unshares it
	JoinNet    bool       `json:"join_net,omitempty"`    // a netns fd follows stdio
	KeepAlive  bool       `json:"keep_alive,omitempty"`
	NoFile     uint64     `json:"nofile,omitempty"`
	Seccomp    []byte     `json:"seccomp,omitempty"` // the compiled filter (see encodeFilter)
	Process    procConfig `json:"process"`
	// Cgroupfs shows the container its own cgroup at /sys/fs/cgroup.
	Cgroupfs []cgroupfsMount `json:"cgroupfs,omitempty"`
	// UserNS: pipe runs rootless, as root of a user namespace (overlays use
	// userxattr; sysfs may be refused). SingleID: that namespace maps uid
	// and gid 0 only (no setgroups, no other user, no devpts gid=5).
	UserNS   bool `json:"userns,omitempty"`
	SingleID bool `json:"single_id,omitempty"`
}

// procConfig is a Process without its streams.
type procConfig struct {
	Args []string    `json:"args"`
	Env  []string    `json:"env,omitempty"`
	Dir  string      `json:"dir,omitempty"`
	User string      `json:"user,omitempty"`
	TTY  bool        `json:"tty,omitempty"`
	Size *WindowSize `json:"size,omitempty"`
}

func procConfigOf(p *Process) procConfig {
	return procConfig{Args: p.Args, Env: p.Env, Dir: p.Dir, User: p.User, TTY: p.TTY, Size: p.Size}
}

// encodeFilter packs a BPF program as 8 bytes per instruction, so the
// parent compiles the seccomp profile once per Runtime and every init only
// installs it.
func encodeFilter(prog []unix.SockFilter) []byte {
	b := make([]byte, 0, 8*len(prog))
	for _, f := range prog {
		b = binary.LittleEndian.AppendUint16(b, f.Code)
		b = append(b, f.Jt, f.Jf)
		b = binary.LittleEndian.AppendUint32(b, f.K)
	}
	return b
}

// decodeFilter is the inverse of encodeFilter.
func decodeFilter(b []byte) ([]unix.SockFilter, error) {
	if len(b) == 0 || len(b)%8 != 0 || len(b)/8 > 0xffff {
		return nil, fmt.Errorf("seccomp program of %d bytes: not whole instructions", len(b))
	}
	prog := make([]unix.SockFilter, len(b)/8)
	for i := range prog {
		x := b[8*i:]
		prog[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(x), Jt: x[2], Jf: x[3], K: binary.LittleEndian.Uint32(x[4:])}
	}
	return prog, nil
}

// conn is one end of the socketpair. send is safe for concurrent use; recv
// is called from one goroutine.
type conn struct {
	fd  int
	wmu sync.Mutex
	buf []byte
	oob []byte
}

// newConn wraps fd; bufSize bounds the messages it can receive.
func newConn(fd, bufSize int) *conn {
	return &conn{fd: fd, buf: make([]byte, bufSize), oob: make([]byte, unix.CmsgSpace(4*8))}
}

// send writes m with fds attached.
func (c *conn) send(m *message, fds ...int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s message: %w", m.Kind, err)
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for {
		err = unix.Sendmsg(c.fd, b, oob, nil, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("send %s message to container init: %w", m.Kind, err)
	}
	return nil
}

// errConnClosed is returned by recv when the other end is gone.
var errConnClosed = errors.New("container init closed its control socket")

// recv reads one message; received fds are close-on-exec.
func (c *conn) recv() (*message, []int, error) {
	var n, oobn int
	var err error
	for {
		n, oobn, _, _, err = unix.Recvmsg(c.fd, c.buf, c.oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read from container control socket: %w", err)
	}
	fds, err := parseRights(c.oob[:oobn])
	if err != nil {
		return nil, nil, err
	}
	if n == 0 {
		closeFds(fds)
		return nil, nil, errConnClosed
	}
	m := new(message)
	if err := json.Unmarshal(c.buf[:n], m); err != nil {
		closeFds(fds)
		return nil, nil, fmt.Errorf("decode container control message: %w", err)
	}
	return m, fds, nil
}

// parseRights extracts the fds of SCM_RIGHTS control messages.
func parseRights(oob []byte) ([]int, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("parse control message: %w", err)
	}
	var fds []int
	for i := range msgs {
		f, err := unix.ParseUnixRights(&msgs[i])
		if err != nil {
			closeFds(fds)
			return nil, fmt.Errorf("parse SCM_RIGHTS: %w", err)
		}
		fds = append(fds, f...)
	}
	return fds, nil
}

func closeFds(fds []int) {
	for _, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// shutdown wakes a blocked recv (it then returns errConnClosed) and makes
// every later send fail; the fd stays open until close.
func (c *conn) shutdown() { _ = unix.Shutdown(c.fd, unix.SHUT_RDWR) }

// close closes the socket; call it once no recv can be running.
func (c *conn) close() { unix.Close(c.fd) }

// overlayOpts are the options every overlay of the container gets: rootless,
// userxattr, so that overlayfs reads and writes its whiteout and opaque
// markers as user.overlay.* (trusted.* needs root of the host).
func (c *initConfig) overlayOpts() []mountOpt {
	if c.UserNS {
		return []mountOpt{{"userxattr", ""}}
	}
	return nil
}

// overlayEnv is what every overlay of the container is mounted with: the
// options above, and a dir of the container's scratch for mount(2) on
// kernels before 6.8 (see legacyOverlayMount).
func (c *initConfig) overlayEnv() overlayEnv {
	return overlayEnv{extra: c.overlayOpts(), tmp: filepath.Join(filepath.Dir(c.RootDir), "legacy-mnt")}
}
