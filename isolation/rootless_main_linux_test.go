package isolation

import (
	"fmt"
	"os"
)

// rootlessTestEnv, set to 1 for an ordinary user's test binary, makes it
// run its tests inside pipe's user namespace, as pipe run does: the root
// suites then run rootless (newTestRuntime passes CurrentUserNS).
const rootlessTestEnv = "PIPE_TEST_ROOTLESS"

// maybeRootlessTests re-runs the test binary in a user namespace when
// rootlessTestEnv asks for it; it returns the exit code and true then.
func maybeRootlessTests() (int, bool) {
	if os.Getenv(rootlessTestEnv) != "1" || !NeedsUserNS() {
		return 0, false
	}
	code, err := EnterUserNS(func(msg string) { fmt.Fprintln(os.Stderr, "warning:", msg) })
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3, true
	}
	return code, true
}
