package isolation

import (
	"runtime"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Every container init is started from one OS thread of its own, the
// launcher's, which lives as long as the process and runs nothing else.
//
// Two things make that thread worth having. Pdeathsig follows the thread
// that forked a child, not the process: an init forked from a thread that
// later ends is killed with it, so the thread that starts them must never
// end. And capabilities are per thread: the launcher's thread drops from
// its bounding set every capability a container may not keep, once, with
// plain prctl calls on itself, and puts all it has in its inheritable set
// first. An init executed from it (as root, from a file with no
// capabilities of its own) gets permitted = bounding | inheritable, so all
// of what pipe has, to build the container, but inherits the container's
// bounding set already: it has nothing to drop from it. Dropping it in
// init instead costs one stop-the-world signal to all of init's threads
// per capability (see dropBoundingSet), some 27 of them, 1-30 ms in all on
// two busy cores; init's capset, which it does anyway, then sets its
// inheritable set back to the container's.
//
// Nothing depends on the launcher having done so: where its drop fails
// (no CAP_SETPCAP) init finds the capabilities still there and drops them
// itself, as before.
var launcher struct {
	once sync.Once
	reqs chan launchReq
	// predropped says whether the launcher's bounding set is the
	// container's, tid which thread it is (tests read them once the
	// launcher has started).
	predropped bool
	tid        int
}

type launchReq struct {
	fn   func() error
	done chan error
}

// onLauncher runs fn (a cmd.Start of a container init) on the launcher's
// thread, starting the launcher on first use.
func onLauncher(fn func() error) error {
	launcher.once.Do(startLauncher)
	req := launchReq{fn: fn, done: make(chan error, 1)}
	launcher.reqs <- req
	return <-req.done
}

func startLauncher() {
	launcher.reqs = make(chan launchReq)
	ready := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread must outlive every init it starts
		launcher.predropped = predropBoundingSet() == nil
		launcher.tid = unix.Gettid()
		close(ready)
		for req := range launcher.reqs {
			req.done <- req.fn()
		}
	}()
	<-ready
}

// predropBoundingSet gives the calling thread, and only it, the
// container's bounding set, with everything it had in its inheritable
// set. The caller must be locked to its thread, and keep it.
func predropBoundingSet() error {
	keep, last, err := containerBounding()
	if err != nil {
		return err
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if _, _, e := unix.RawSyscall(unix.SYS_CAPGET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return e
	}
	if data[0].Permitted&(1<<unix.CAP_SETPCAP) == 0 {
		return unix.EPERM
	}
	for i := range data {
		data[i].Inheritable = data[i].Permitted
	}
	hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	if _, _, e := unix.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0); e != 0 {
		return e
	}
	return dropBounding(keep, last, func(c uintptr) error {
		if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0, 0, 0, 0); e != 0 {
			return e
		}
		return nil
	})
}
