//go:build !linux

package isolation

import "time"

// DialIn needs Linux's network namespaces.
func DialIn(ns, addr string, timeout time.Duration) error { return ErrUnsupported }
