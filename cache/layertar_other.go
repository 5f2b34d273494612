//go:build !linux

package cache

import (
	"errors"
	"fmt"
	"io"
)

// writeLayerTar needs Linux: overlay-form dirs only exist there.
func writeLayerTar(w io.Writer, dir string) error {
	return fmt.Errorf("tar %s: overlay layers need Linux: %w", dir, errors.ErrUnsupported)
}
