package isolation

import (
	"io"
	"syscall"
	"time"
)

// Spec describes one container: what it sees, what it runs, and what it may use.
// The zero value of every optional field means "the safe default".
type Spec struct {
	// ID names the container in the state dir, cgroup and logs. It must be unique
	// among live containers of one Runtime and match [a-zA-Z0-9_.-]{1,128}.
	ID string

	// Root is the root filesystem: an overlay of read-only layer dirs.
	Root Overlay

	// Mounts are applied after /proc, /dev, /sys and /etc files, in order.
	// Every target is resolved inside the new root.
	Mounts []Mount

	// Process is the main process. When it exits the container ends (unless
	// KeepAlive is set), and every other process in it is killed.
	Process Process

	// KeepAlive keeps init and the container's namespaces, mounts and cgroup alive
	// after the main process exits, so that Container.Exec can start more
	// processes in the exact state the main process left (pipe debug). The
	// container then ends only with Container.Destroy or the context.
	KeepAlive bool

	// Hostname is the UTS hostname; empty means the ID, cut to 63 characters.
	Hostname string

	// Hosts are extra lines for the generated /etc/hosts (name -> address),
	// on top of localhost and the hostname.
	Hosts map[string]string

	// Network selects the network namespace.
	Network Network

	// Limits are enforced with cgroups (v1 or v2, detected at run time) and rlimits.
	Limits Limits
}

// Overlay is an overlayfs made of read-only lower dirs (bottom first) and an
// optional writable upper dir. When Upper is empty, the Runtime creates a
// scratch upper dir of its own and removes it when the container is destroyed.
// When Upper is set, the caller owns it (and Work, which must be on the same
// filesystem): what the container wrote there is still there after Destroy.
type Overlay struct {
	Lower []string
	Upper string
	Work  string
	// Volatile mounts the overlay with overlayfs's "volatile" option: the
	// kernel skips syncing the upper dir's filesystem when the overlay is
	// unmounted (at the container's end, a syncfs of the whole disk) and
	// fsync inside the container does not reach the disk. Set it when the
	// caller makes durable what it keeps of Upper itself (or keeps nothing).
	// Work must not be reused for another overlay afterwards. Kernels before
	// 5.10 do not know the option: the overlay is then mounted without it.
	Volatile bool
}

// MountType says what a Mount mounts.
type MountType string

const (
	// MountBind bind-mounts Source (a host path) on Target.
	MountBind MountType = "bind"
	// MountTmpfs mounts a fresh tmpfs on Target (Source is ignored).
	MountTmpfs MountType = "tmpfs"
	// MountOverlay mounts Overlay on Target (Source is ignored).
	MountOverlay MountType = "overlay"
)

// Mount is one extra mount inside the container.
type Mount struct {
	Type     MountType
	Source   string
	Target   string // absolute path inside the container, resolved in the root
	ReadOnly bool
	Overlay  Overlay // for MountOverlay
	Size     int64   // for MountTmpfs: bytes, 0 = kernel default
}

// Process is what runs inside the container: the main process, or one started
// later with Container.Exec.
type Process struct {
	Args []string // argv; Args[0] is looked up in PATH inside the container
	Env  []string // KEY=VALUE; PATH gets a default when absent
	Dir  string   // working directory inside the container; "" means "/"
	// User is "uid", "uid:gid", "name" or "name:group", resolved against the
	// container's /etc/passwd and /etc/group by pipe's own parser. "" means root.
	User string

	// TTY gives the process a pseudo-terminal (a new devpts instance inside the
	// container). Stdin, Stdout are then the terminal's two directions, Stderr is
	// unused, and Size and Resize set its window size.
	TTY    bool
	Size   *WindowSize
	Resize <-chan WindowSize

	// Signals, for a process started with Container.Exec, are sent to the
	// process's group as they come (a runner's SIGTERM on cancel, say),
	// while the process runs. nil sends none.
	Signals <-chan syscall.Signal

	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// WindowSize is a terminal's size in characters.
type WindowSize struct {
	Rows, Cols uint16
}

// NetworkMode selects how a container is networked.
type NetworkMode string

const (
	// NetworkNone is a fresh network namespace with only loopback, up.
	NetworkNone NetworkMode = "none"
	// NetworkHost shares the host's network namespace.
	NetworkHost NetworkMode = "host"
	// NetworkJoin joins the network namespace pinned at Network.Path
	// (made by NewNetNS), so that several containers share one loopback.
	NetworkJoin NetworkMode = "join"
)

// Network is the network a container gets. The zero value is NetworkNone.
type Network struct {
	Mode NetworkMode
	Path string // for NetworkJoin
}

// Limits bound what a container may use. Zero means unlimited, except Pids,
// which defaults to a safe bound.
type Limits struct {
	Memory       int64   // bytes of memory (and swap: none beyond it)
	CPUs         float64 // CPU bandwidth in cores (1.5 = one and a half)
	Pids         int64   // processes and threads
	IOReadBPS    int64   // bytes per second read, on the device holding the store
	IOWriteBPS   int64   // bytes per second written, on the same device
	NoFile       uint64  // RLIMIT_NOFILE; 0 = 1024:min(hard,1048576) clamped to pipe's hard limit
	TimeoutGrace time.Duration
}

// Result is how a container's process ended.
type Result struct {
	ExitCode  int            // the process's exit code, or 128+signal
	Signal    syscall.Signal // the signal that ended it, 0 if it exited
	OOMKilled bool           // the kernel's OOM killer ended it (memory limit)
	TimedOut  bool           // its context's deadline passed and pipe killed it
	Canceled  bool           // its context was canceled and pipe killed it

	PeakMemory int64         // bytes, from the cgroup (0 where the kernel does not say)
	CPUTime    time.Duration // user+system time of every process in the container
	WallTime   time.Duration // from start to exit
}
