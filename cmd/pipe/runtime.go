package main

import (
	"fmt"

	"github.com/pipe-run/pipe/isolation"
)

// newRuntime is the container runtime, with a clear error where there is
// none. Disk I/O limits apply to the disk that holds pipe's store.
//
// isolation.Available's checks (root, namespaces, kernel, cgroups) are what
// New needs too: they are made only when New fails, to say why in the
// words of the first thing missing (pipe run checks them ahead, in the
// background: useLocal).
func newRuntime(o *output, strictLimits bool) (*isolation.Runtime, error) {
	opts := runtimeOptions(o, strictLimits)
	opts.Prestart = 1 // the next container's init starts while pipe does the rest
	rt, err := isolation.New(opts)
	if err != nil {
		if aerr := isolation.Available(); aerr != nil {
			return nil, fmt.Errorf("cannot run containers here: %w", aerr)
		}
		return nil, fmt.Errorf("container runtime: %w", err)
	}
	return rt, nil
}
