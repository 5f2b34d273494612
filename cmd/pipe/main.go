// Command pipe runs CI/CD pipelines described in .pipe.yml, each step in a fresh
// hermetic container. This package is wiring only: flags, output and exit codes.
package main

import (
	"os"

	"github.com/pipe-run/pipe/executor/job"
	"github.com/pipe-run/pipe/isolation"
)

func main() {
	// A re-executed container init never returns from here.
	isolation.MaybeInit()
	// So does a re-executed job keeper (pipe gitlab, pipe gha-hook), which
	// stays in the namespaces of the pipe that started it.
	job.MaybeKeeper(embeddedInit())
	if code, ok := maybeEnterUserNS(os.Args[1:], os.Stderr); ok {
		os.Exit(code)
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
