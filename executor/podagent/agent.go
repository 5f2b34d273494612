package podagent

import (
	"fmt"
	"io"
	"time"
)

// Agent runs the agent's subcommands in one pod. The zero value is not
// usable: set Paths (DefaultPaths in a pod).
type Agent struct {
	Paths Paths
	// PushWait bounds how long Run waits for the push sidecar once the
	// step has exited; 0 means DefaultPushWait.
	PushWait time.Duration
	// Log receives the agent's own progress lines (the container's log);
	// nil discards them.
	Log io.Writer
}

// DefaultPushWait is how long Run waits for the diff to be pushed.
const DefaultPushWait = 10 * time.Minute

// logf writes one progress line.
func (a *Agent) logf(format string, args ...any) {
	if a.Log != nil {
		fmt.Fprintf(a.Log, "pipe pod-agent: "+format+"\n", args...)
	}
}
