package isolation

import "os"

// InitArg0 is argv[0] of a re-executed pipe binary that is to become a
// container's init. Nothing else runs pipe with this argv[0].
const InitArg0 = "pipe-container-init"

// MaybeInit turns the current process into a container init when it was
// started as one by this package, and never returns then. Otherwise it returns
// at once. Call it first thing in main (and in TestMain of packages whose tests
// start containers), before any goroutine is started.
func MaybeInit() {
	if len(os.Args) == 0 || os.Args[0] != InitArg0 {
		return
	}
	os.Exit(containerInit())
}
