//go:build !linux

package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// errTreeNeedsLinux is returned by the pod layer functions on other systems.
var errTreeNeedsLinux = fmt.Errorf("applying and diffing workspace layers needs Linux: %w", errors.ErrUnsupported)

// ApplyLayer needs Linux: see podlayer_apply_linux.go.
func ApplyLayer(ctx context.Context, r io.Reader, dir string) error {
	return &LayerError{Err: errTreeNeedsLinux}
}

// IndexTree needs Linux: see podlayer_walk_linux.go.
func IndexTree(dir string) (*TreeIndex, error) {
	return nil, fmt.Errorf("index %s: %w", dir, errTreeNeedsLinux)
}

// DiffTree needs Linux: see podlayer_diff_linux.go.
func DiffTree(ctx context.Context, idx *TreeIndex, dir string, w io.Writer) (bool, error) {
	return false, fmt.Errorf("diff %s: %w", dir, errTreeNeedsLinux)
}
