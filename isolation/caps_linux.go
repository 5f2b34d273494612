package isolation

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// capabilityNumbers maps the names in defaultCapabilities to their numbers:
// a table, not a map, so package init builds nothing.
var capabilityNumbers = [...]struct {
	name string
	nr   uintptr
}{
	{"CAP_CHOWN", unix.CAP_CHOWN},
	{"CAP_DAC_OVERRIDE", unix.CAP_DAC_OVERRIDE},
	{"CAP_FOWNER", unix.CAP_FOWNER},
	{"CAP_FSETID", unix.CAP_FSETID},
	{"CAP_KILL", unix.CAP_KILL},
	{"CAP_NET_BIND_SERVICE", unix.CAP_NET_BIND_SERVICE},
	{"CAP_SETFCAP", unix.CAP_SETFCAP},
	{"CAP_SETGID", unix.CAP_SETGID},
	{"CAP_SETPCAP", unix.CAP_SETPCAP},
	{"CAP_SETUID", unix.CAP_SETUID},
	{"CAP_SYS_CHROOT", unix.CAP_SYS_CHROOT},
}

// dropCapabilities reduces every thread of this process to
// defaultCapabilities: the bounding set first (dropping from it needs
// CAP_SETPCAP, which is kept anyway), then the ambient set, then permitted,
// effective and inheritable. Capabilities are per thread in Linux, and a child
// inherits those of the thread that forked it, so each step is applied to
// all threads at once (AllThreadsSyscall); otherwise a goroutine that
// migrated to another thread could start a process with full privileges.
// A binary that links cgo cannot do that: there the capabilities change on
// the calling thread only (see privilegesAllThreads), and the caller must
// lock its goroutine to its thread first and start every child from it.
// A default capability that this process does not have itself stays
// missing: the set only ever shrinks. Capabilities already out of the
// bounding set (see dropBoundingSet) cost nothing here.
func dropCapabilities() error {
	keep, err := capabilityMask(defaultCapabilities)
	if err != nil {
		return err
	}
	if err := dropBoundingSet(); err != nil {
		return err
	}
	if ambientSet() {
		if err := allThreads(unix.SYS_PRCTL, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0); err != nil {
			return fmt.Errorf("drop capabilities: clear the ambient set: %w", err)
		}
	}
	return capsetAll(keep)
}

// ambientSet says whether this thread has any ambient capability. All
// threads share one ambient set for the reason they share one bounding set
// (see dropBounding), so an empty one needs no stop-the-world to clear.
// Where the kernel cannot tell, it says yes.
func ambientSet() bool {
	last, err := lastCapability()
	if err != nil {
		return true
	}
	for c := uintptr(0); c <= last; c++ {
		if in, err := unix.PrctlRetInt(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_IS_SET, c, 0, 0); err != nil || in != 0 {
			return true
		}
	}
	return false
}

// dropBoundingSet removes every capability not in defaultCapabilities from
// the bounding set of every thread. It leaves permitted and effective alone,
// so the caller keeps what it needs to build the container.
//
// Each capability takes one AllThreadsSyscall, which stops the world and
// signals every thread, so its cost grows with the thread count: the
// container init calls this first thing, while it has the fewest threads.
// Threads started later are cloned from threads that already dropped, and
// inherit the smaller set; dropCapabilities then finds nothing left to drop.
func dropBoundingSet() error {
	keep, last, err := containerBounding()
	if err != nil {
		return err
	}
	return dropBounding(keep, last, func(c uintptr) error {
		return allThreads(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0)
	})
}

// containerBounding is the container's bounding set as a mask, and the
// highest capability number the kernel knows.
func containerBounding() (keep uint64, last uintptr, err error) {
	if keep, err = capabilityMask(defaultCapabilities); err != nil {
		return 0, 0, err
	}
	last, err = lastCapability()
	return keep, last, err
}

// capabilityMask turns capability names into a bit mask.
func capabilityMask(names []string) (uint64, error) {
	var mask uint64
	for _, n := range names {
		nr, ok := capabilityNumber(n)
		if !ok {
			return 0, fmt.Errorf("drop capabilities: unknown capability %q", n)
		}
		mask |= 1 << nr
	}
	return mask, nil
}

// capabilityNumber looks name up in capabilityNumbers.
func capabilityNumber(name string) (uintptr, bool) {
	for _, c := range capabilityNumbers {
		if c.name == name {
			return c.nr, true
		}
	}
	return 0, false
}

// lastCapability is the highest capability number the kernel knows, read
// once per process.
var lastCapability = sync.OnceValues(readLastCapability)

func readLastCapability() (uintptr, error) {
	b, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, fmt.Errorf("drop capabilities: is /proc mounted? %w", err)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 8)
	if err != nil || n > 63 {
		return 0, fmt.Errorf("drop capabilities: /proc/sys/kernel/cap_last_cap: unexpected %q", b)
	}
	return uintptr(n), nil
}

// dropBounding removes every capability not in keep from the bounding set.
// A capability this thread no longer has there is skipped (PR_CAPBSET_READ,
// a plain syscall): every drop here reaches all threads at once, and a new
// thread inherits the set of the thread it is cloned from, so all threads
// share one bounding set. Where cgo confines the drop to the calling thread
// (see allThreads), the caller forks every child from that thread, so its
// set is the one that counts. drop removes one capability: from every
// thread (dropBoundingSet) or from the calling one (predropBoundingSet).
func dropBounding(keep uint64, last uintptr, drop func(c uintptr) error) error {
	for c := uintptr(0); c <= last; c++ {
		if keep&(1<<c) != 0 {
			continue
		}
		if in, err := unix.PrctlRetInt(unix.PR_CAPBSET_READ, c, 0, 0, 0); err == nil && in == 0 {
			continue
		}
		if err := drop(c); err != nil {
			return fmt.Errorf("drop capabilities: PR_CAPBSET_DROP %d (needs CAP_SETPCAP): %w", c, err)
		}
	}
	return nil
}

// capsetAll sets permitted, effective and inheritable to keep, intersected
// with what this thread has now (asking for more fails with EPERM).
func capsetAll(keep uint64) error {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return fmt.Errorf("drop capabilities: capget: %w", err)
	}
	have := uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32
	set := keep & have
	for i := range data {
		v := uint32(set >> (32 * i))
		data[i] = unix.CapUserData{Effective: v, Permitted: v, Inheritable: v}
	}
	hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	err := allThreads(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	if err != nil {
		return fmt.Errorf("drop capabilities: capset: %w", err)
	}
	return nil
}

// privilegesAllThreads reports whether dropCapabilities and setNoNewPrivs
// reach every thread of this process. They do unless the binary links cgo
// (pipe's release build does not; a `go test` binary that imports net with
// cgo enabled does); then they reach the calling thread only, so the caller
// must hold runtime.LockOSThread and fork every child from that goroutine.
// The seccomp filter reaches every thread either way.
func privilegesAllThreads() bool {
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_GETPID, 0, 0, 0)
	return errno != syscall.ENOTSUP
}

// allThreads runs a syscall on every thread of the process, or where cgo
// makes that impossible (ENOTSUP) on the calling thread only (see
// privilegesAllThreads).
func allThreads(trap, a1, a2, a3 uintptr) error {
	_, _, errno := syscall.AllThreadsSyscall(trap, a1, a2, a3)
	if errno == syscall.ENOTSUP {
		_, _, errno = syscall.RawSyscall6(trap, a1, a2, a3, 0, 0, 0)
	}
	if errno != 0 {
		return errno
	}
	return nil
}
