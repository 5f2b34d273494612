package executor

import (
	"context"

	"github.com/pipe-run/pipe/isolation"
)

// Runtime is what the executor needs of a container runtime: start a container
// from an isolation.Spec, and make network namespaces that several containers
// (a step and its services) join. *isolation.Runtime satisfies it through
// NewIsolationRuntime; tests use a fake that runs the argv as host processes.
//
// Start and NewNetNS are safe for concurrent use.
type Runtime interface {
	// Start creates the container and starts its main process. ctx bounds the
	// container's whole life: when it is cancelled every process in it is
	// killed (Result.Canceled), when its deadline passes likewise
	// (Result.TimedOut). On error nothing is left behind.
	Start(ctx context.Context, s *isolation.Spec) (Container, error)

	// NewNetNS makes a network namespace with only loopback, up, for
	// isolation.Network{Mode: isolation.NetworkJoin, Path: ns.Path()}.
	NewNetNS(name string) (NetNS, error)
}

// Container is one started container.
//
// Lifecycle: Start, then any number of Exec (concurrently with each other and
// with Wait), Wait once, then Destroy. Destroy must always be called, also
// when Wait was never called or failed; it is idempotent. After Destroy has
// returned, the overlay upper dirs the Spec named hold what the container
// wrote and nothing writes to them any more.
type Container interface {
	// Wait blocks until the main process has exited and returns how it ended.
	// Without KeepAlive, the upper dirs hold by then what the container's
	// processes wrote to them before it ended: a step whose upper dir is
	// empty then wrote nothing (runContainer does not wait for Destroy then).
	Wait() (isolation.Result, error)
	// Exec runs another process in the container (same namespaces, cgroup,
	// privileges) and waits for it; ctx bounds it. It works while the main
	// process runs, and after it exited when the Spec has KeepAlive.
	Exec(ctx context.Context, p isolation.Process) (isolation.Result, error)
	// Destroy kills every process, unmounts everything and removes the cgroup
	// and scratch dirs.
	Destroy() error
}

// NetNS is a network namespace that outlives the containers that join it,
// until Close.
type NetNS interface {
	// Path is the namespace's pin, for isolation.Network.Path.
	Path() string
	// Close removes the pin; the namespace goes away with its last process.
	Close() error
}
