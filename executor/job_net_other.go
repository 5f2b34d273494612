//go:build !linux

package executor

import (
	"time"

	"github.com/pipe-run/pipe/isolation"
)

// dialIn needs Linux's network namespaces.
func dialIn(ns, addr string, timeout time.Duration) error { return isolation.ErrUnsupported }
