package isolation

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
)

// NetNS is a network namespace with only loopback, up, pinned by a bind
// mount at Path, for containers that share one network (Network{Mode:
// NetworkJoin, Path: n.Path}): a step and its services. Close removes it;
// a killed pipe's pins are removed by the next Runtime's Cleanup.
type NetNS struct {
	// Path is the pin (a file under StateDir/netns) to put in Network.Path.
	Path string

	r    *Runtime
	name string
}

// NewNetNS creates and pins a network namespace named name (unique among
// the live ones of this state dir; same alphabet as a Spec.ID).
func (r *Runtime) NewNetNS(name string) (*NetNS, error) {
	if !validName(name) {
		return nil, fmt.Errorf("netns name %q: want 1 to 128 of [a-zA-Z0-9_.-]", name)
	}
	dir := netnsDir(r.opts)
	n := &NetNS{Path: filepath.Join(dir, name), r: r, name: name}
	if err := writeRecord(dir, stateRecord{Name: name, Owner: r.self, Pin: n.Path}); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(n.Path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o600)
	if err != nil {
		_ = removeRecord(dir, name)
		return nil, fmt.Errorf("netns %s: %w", name, err)
	}
	f.Close()
	if err := pinNewNetNS(r.nsMaker, n.Path); err != nil {
		return nil, errors.Join(fmt.Errorf("netns %s: %w", name, err), n.Close())
	}
	return n, nil
}

// Close unmounts and removes the pin. Containers that joined the namespace
// keep it alive until they end.
func (n *NetNS) Close() error {
	dir := netnsDir(n.r.opts)
	return errors.Join(unpin(n.Path), removeRecord(dir, n.name))
}

// pinNewNetNS makes a network namespace with lo up and bind-mounts it on pin.
func pinNewNetNS(m *netnsMaker, pin string) error {
	return m.do(func() error {
		if err := unix.Mount("/proc/thread-self/ns/net", pin, "", unix.MS_BIND, ""); err != nil {
			return &os.PathError{Op: "pin network namespace", Path: pin, Err: err}
		}
		return nil
	})
}

// makeNetNS makes a network namespace with lo up and returns an fd of it.
func makeNetNS(m *netnsMaker) (*os.File, error) {
	var f *os.File
	err := m.do(func() error {
		var err error
		f, err = os.Open("/proc/thread-self/ns/net")
		return err
	})
	return f, err
}

// inNewNetNS runs fn in a fresh network namespace with lo up, on a locked
// thread of its own that returns to the host's namespace afterwards. A
// thread that cannot go back is never reused: it ends with its goroutine.
func inNewNetNS(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		host, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			runtime.UnlockOSThread()
			return
		}
		defer host.Close()
		err = unshareNetNS(fn)
		if serr := unix.Setns(int(host.Fd()), unix.CLONE_NEWNET); serr != nil {
			errc <- errors.Join(err, fmt.Errorf("return to the host network namespace: %w", serr))
			return // the thread stays locked and dies with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

func unshareNetNS(fn func() error) error {
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("unshare network namespace: %w", err)
	}
	if err := loopbackUp(); err != nil {
		return err
	}
	return fn()
}
