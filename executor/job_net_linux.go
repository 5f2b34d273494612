package executor

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// dialIn connects to addr from inside the network namespace pinned at ns
// (a private job's): on an OS thread of its own that enters the namespace
// and is never used for anything else (it ends with the goroutine, since
// the goroutine never unlocks it).
func dialIn(ns, addr string, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- &os.PathError{Op: "setns", Path: ns, Err: err}
			return
		}
		c, err := net.DialTimeout("tcp", addr, timeout)
		if err == nil {
			c.Close()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		return fmt.Errorf("dial %s in %s: %w", addr, ns, err)
	}
	return nil
}
