//go:build !linux

package kept

import "errors"

// LinkTree needs Linux (overlay-form dirs, xattrs).
func LinkTree(src, dst string) error {
	return errors.New("keeping a failed step's state needs Linux")
}
