package isolation

import (
	"os"
	"testing"
)

// TestMain lets the test binary be re-executed as a container init or as a
// child of the privilege tests. If the package gets another TestMain, move
// these two calls into it and delete this file.
func TestMain(m *testing.M) {
	MaybeInit()
	if runPrivilegesTestChild() {
		return
	}
	os.Exit(m.Run())
}
