//go:build !linux

package isolation

import (
	"fmt"
	"os"
)

// containerInit cannot run on this system: pipe never starts it here.
func containerInit() int {
	fmt.Fprintln(os.Stderr, ErrUnsupported)
	return 3
}
