package isolation

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// DialIn connects to addr (and closes the connection) from inside the
// network namespace pinned at ns (a service's, a private job's): how a
// port check sees a service that listens on that namespace's loopback. It
// runs on a locked OS thread that enters the namespace and then returns to
// its own. The thread must not end: a thread that ends sends Pdeathsig to
// every container init it ever forked (see netnsMaker). If it cannot
// return (rootless), it stays locked and parked for the process's life.
func DialIn(ns, addr string, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer self.Close()
		target, err := os.Open(ns)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- &os.PathError{Op: "setns", Path: ns, Err: err}
			return
		}
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err == nil {
			c.Close()
		}
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) != nil {
			errc <- err
			select {} // parked on its thread: see above
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("dial %s in %s: %w", addr, ns, err)
	}
	return nil
}
