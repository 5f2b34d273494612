//go:build !linux

package executor

import "errors"

// linkTree needs Linux (overlay-form dirs, xattrs).
func linkTree(src, dst string) error {
	return errors.New("keeping a failed step's state needs Linux")
}
