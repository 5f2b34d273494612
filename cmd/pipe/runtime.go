package main

import (
	"fmt"

	"github.com/pipe-run/pipe/isolation"
)

// newRuntime is the container runtime, with a clear error where there is
// none. Disk I/O limits apply to the disk that holds pipe's store.
func newRuntime(o *output, strictLimits bool) (*isolation.Runtime, error) {
	if err := isolation.Available(); err != nil {
		return nil, fmt.Errorf("cannot run containers here: %w", err)
	}
	opts := runtimeOptions(o, strictLimits)
	opts.Prestart = 1 // the next container's init starts while pipe does the rest
	rt, err := isolation.New(opts)
	if err != nil {
		return nil, fmt.Errorf("container runtime: %w", err)
	}
	return rt, nil
}
