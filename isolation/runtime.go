package isolation

import "errors"

// ErrUnsupported is returned by every Runtime operation on a system where
// pipe cannot create containers (anything but Linux).
var ErrUnsupported = errors.New("isolation: containers need Linux (namespaces, cgroups, overlayfs); run pipe on a Linux host or in a Linux VM")

// Options configure a Runtime. The zero value is the default.
type Options struct {
	// StateDir holds a record of each live container (with the pid and start
	// time of the pipe process that owns it), so that a later Runtime can
	// clean up after a pipe that was killed. Default /run/pipe.
	StateDir string

	// ScratchDir holds the scratch upper/work dirs (and generated /etc files)
	// of containers. pipe mounts a bounded tmpfs there, because deleting
	// upper dirs on a disk is slow (MACHINE.md). Default StateDir/scratch.
	ScratchDir string

	// ScratchSize bounds the scratch tmpfs, in bytes. 0 means the kernel's
	// default (half of RAM). A container that fills it gets ENOSPC.
	ScratchSize int64

	// CgroupParent is the parent cgroup of every container, relative to each
	// hierarchy's root. Default "pipe".
	CgroupParent string

	// IODevicePath names the disk that Limits.IOReadBPS and IOWriteBPS
	// throttle: the block device holding this path (pipe passes its store,
	// where the layers and workspaces containers read and write live).
	// Empty, or a path on no block device (tmpfs), leaves I/O unthrottled.
	IODevicePath string

	// UserNS, when set, is the user namespace this pipe process runs in as
	// root (CurrentUserNS): rootless mode. Containers then mount their
	// overlays with userxattr, bind /sys read-only where sysfs cannot be
	// mounted, and get a cgroup only where one is delegated to the user.
	// The default StateDir is $XDG_RUNTIME_DIR/pipe, else /tmp/pipe-run-UID.
	UserNS *UserNS

	// StrictLimits refuses to start a container whose Limits cannot be
	// applied (rootless without a delegated cgroup), instead of running it
	// without them after one Warn.
	StrictLimits bool

	// Warn receives what the user should know once per Runtime, such as
	// limits that are not applied. nil drops it.
	Warn func(msg string)

	// Prestart is how many container inits the Runtime keeps started ahead
	// of time, each in fresh namespaces and a cgroup of its own, waiting
	// for a container: Start then skips the clone, the exec of init and
	// (on cgroup v1) the move into the cgroup, most of a container's start.
	// 0 starts none. Close stops them.
	Prestart int

	// Init is the executable of containers' inits: a static binary whose
	// main is Init (cmd/pipe-init), which starts faster than pipe itself
	// as it runs none of pipe's other package inits. Without InitKey the
	// Runtime seals one memfd copy of it at New (CVE-2019-5736). nil
	// re-executes pipe's own binary (MaybeInit).
	Init []byte

	// InitKey names Init's content: a Runtime given one keeps one copy of
	// Init per key in StateDir, written by the first Runtime that needs it,
	// and executes it through a read-only overlay attached nowhere (as it
	// does pipe's own binary) instead of copying it into a memfd at every
	// New. Different content must have a different key: ExecutableKey is
	// the key of an Init embedded in the running binary. Where the copy
	// cannot be kept or reached so, the memfd is made as without a key.
	InitKey string
}
