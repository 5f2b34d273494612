//go:build !linux

package isolation

import "context"

// Runtime creates containers. On this system it cannot: every method
// returns ErrUnsupported.
type Runtime struct{}

// Container is a started container (never, on this system).
type Container struct{}

// NetNS is a pinned network namespace (never, on this system).
type NetNS struct {
	// Path is where the namespace is pinned.
	Path string
}

// Available says why containers cannot run here.
func Available() error { return ErrUnsupported }

// New returns ErrUnsupported.
func New(opts Options) (*Runtime, error) { return nil, ErrUnsupported }

// Start returns ErrUnsupported.
func (r *Runtime) Start(ctx context.Context, s *Spec) (*Container, error) {
	return nil, ErrUnsupported
}

// Run returns ErrUnsupported.
func (r *Runtime) Run(ctx context.Context, s *Spec) (Result, error) {
	return Result{}, ErrUnsupported
}

// Cleanup returns ErrUnsupported.
func (r *Runtime) Cleanup() error { return ErrUnsupported }

// Close returns nil.
func (r *Runtime) Close() error { return nil }

// Expect does nothing: no container starts here.
func (r *Runtime) Expect(n int) {}

// NewNetNS returns ErrUnsupported.
func (r *Runtime) NewNetNS(name string) (*NetNS, error) { return nil, ErrUnsupported }

// Close returns nil.
func (n *NetNS) Close() error { return nil }

// Wait returns ErrUnsupported.
func (c *Container) Wait() (Result, error) { return Result{}, ErrUnsupported }

// Exec returns ErrUnsupported.
func (c *Container) Exec(ctx context.Context, p Process) (Result, error) {
	return Result{}, ErrUnsupported
}

// Destroy returns nil: there is nothing to destroy.
func (c *Container) Destroy() error { return nil }

// ExecutableKey needs Linux.
func ExecutableKey() string { return "" }
