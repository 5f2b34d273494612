//go:build !linux

package isolation

import (
	"errors"
	"fmt"
)

// dropCapabilities needs Linux.
func dropCapabilities() error {
	return fmt.Errorf("drop capabilities: containers need Linux: %w", errors.ErrUnsupported)
}
