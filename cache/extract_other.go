//go:build !linux

package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// errNeedsLinux is returned by the layer functions on other systems.
var errNeedsLinux = fmt.Errorf("extracting image layers needs Linux: %w", errors.ErrUnsupported)

// extractLayer needs Linux: see extract_linux.go.
func extractLayer(ctx context.Context, r io.Reader, dir string, opts extractOptions) (extractStats, error) {
	return extractStats{}, &LayerError{Image: opts.Image, Layer: opts.Layer, Err: errNeedsLinux}
}
