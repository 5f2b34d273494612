package executor

import (
	"context"

	"github.com/pipe-run/pipe/isolation"
)

// NewIsolationRuntime adapts pipe's container runtime to the executor's
// Runtime. The caller keeps rt and closes it when the run is over.
func NewIsolationRuntime(rt *isolation.Runtime) Runtime {
	return isolationRuntime{rt: rt}
}

type isolationRuntime struct{ rt *isolation.Runtime }

// Start starts a container; *isolation.Container is a Container as it is.
func (r isolationRuntime) Start(ctx context.Context, s *isolation.Spec) (Container, error) {
	c, err := r.rt.Start(ctx, s)
	if err != nil {
		return nil, err // a nil *isolation.Container must not become a non-nil Container
	}
	return c, nil
}

// Expect tells the runtime how many containers are still to start, so
// that it prestarts no init in vain (isolation.Runtime.Expect).
func (r isolationRuntime) Expect(n int) { r.rt.Expect(n) }

// NewNetNS makes a pinned network namespace.
func (r isolationRuntime) NewNetNS(name string) (NetNS, error) {
	ns, err := r.rt.NewNetNS(name)
	if err != nil {
		return nil, err
	}
	return isolationNetNS{ns: ns}, nil
}

type isolationNetNS struct{ ns *isolation.NetNS }

func (n isolationNetNS) Path() string { return n.ns.Path }
func (n isolationNetNS) Close() error { return n.ns.Close() }
