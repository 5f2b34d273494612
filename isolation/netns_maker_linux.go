package isolation

import "runtime"

// netnsMaker runs functions in fresh network namespaces. The nil maker is
// the root way (inNewNetNS): a locked thread unshares, runs the function
// and returns to the host's namespace.
//
// Rootless, that return is refused (the host's network namespace belongs
// to the parent user namespace) and the thread would have to end. A
// thread that ends sends Pdeathsig to every container init it ever forked,
// so no thread may end while containers run. The rootless maker is instead
// one goroutine locked to its thread from the Runtime's start until Close,
// which runs nothing else: it unshares a new namespace for each request
// and never goes back.
type netnsMaker struct {
	reqs chan netnsReq
}

type netnsReq struct {
	fn   func() error
	done chan error
}

// newRootlessNetnsMaker starts the maker's goroutine.
func newRootlessNetnsMaker() *netnsMaker {
	m := &netnsMaker{reqs: make(chan netnsReq)}
	ready := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine, at close
		close(ready)
		for req := range m.reqs {
			req.done <- unshareNetNS(req.fn)
		}
	}()
	<-ready
	return m
}

// do runs fn in a fresh network namespace with lo up.
func (m *netnsMaker) do(fn func() error) error {
	if m == nil {
		return inNewNetNS(fn)
	}
	req := netnsReq{fn: fn, done: make(chan error, 1)}
	m.reqs <- req
	return <-req.done
}

// close ends the goroutine (and its thread). Call it after every container
// is gone; it is nil-safe.
func (m *netnsMaker) close() {
	if m != nil {
		close(m.reqs)
	}
}
