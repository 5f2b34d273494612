package isolation

import (
	"os"
	"testing"
)

// TestMain lets the test binary be re-executed as a container init or as a
// child of the privilege tests, and removes the tests' cgroup parent when
// they end. If the package gets another TestMain, move these calls into it
// and delete this file.
func TestMain(m *testing.M) {
	MaybeInit()
	if code, ok := maybeRootlessTests(); ok {
		os.Exit(code)
	}
	if runPrivilegesTestChild() {
		return
	}
	code := m.Run()
	if os.Getenv(testCgroupParentEnv) == "" { // not a helper: the parent is ours
		removeTestCgroupParent()
	}
	os.Exit(code)
}
