//go:build !linux

package isolation

import (
	"errors"
	"fmt"
)

// setNoNewPrivs needs Linux.
func setNoNewPrivs() error {
	return fmt.Errorf("set no_new_privs: containers need Linux: %w", errors.ErrUnsupported)
}

// loadSeccomp needs Linux.
func loadSeccomp() error {
	return fmt.Errorf("load seccomp filter: containers need Linux: %w", errors.ErrUnsupported)
}
