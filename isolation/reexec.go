package isolation

import "os"

// InitArg0 is argv[0] of a re-executed pipe binary that is to become a
// container's init. Nothing else runs pipe with this argv[0].
const InitArg0 = "pipe-container-init"

// MaybeInit turns the current process into a container init when it was
// started as one by this package, and never returns then. Otherwise it returns
// at once. Call it first thing in main (and in TestMain of packages whose tests
// start containers), before any goroutine is started.
//
// In a pipe started by EnterUserNS it also runs the steps of entering the
// user namespace, and returns once the process is root in it.
func MaybeInit() {
	if len(os.Args) == 0 || os.Args[0] != InitArg0 {
		maybeUserNSStage()
		return
	}
	os.Exit(containerInit())
}

// Init is the whole main of a dedicated init binary (cmd/pipe-init, given
// to a Runtime as Options.Init): it runs the container init and never
// returns. Such a binary links this package only, so it starts without
// the package inits of all of pipe. Run by anything but a Runtime (argv[0]
// is not InitArg0) it exits 2 at once.
func Init() {
	if len(os.Args) == 0 || os.Args[0] != InitArg0 {
		os.Stderr.WriteString("pipe-init: this is pipe's container init, started by pipe only\n")
		os.Exit(2)
	}
	os.Exit(containerInit())
}
