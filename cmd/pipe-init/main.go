// Command pipe-init is pipe's container init on its own: a Runtime given
// it (isolation.Options.Init; the release build embeds it in pipe) execs it
// as each container's PID 1 instead of pipe's whole binary. It imports
// package isolation only, so that no package init of the rest of pipe
// (client-go, the registry client, YAML, cobra) runs before a container
// starts.
package main

import "github.com/pipe-run/pipe/isolation"

func main() {
	isolation.Init()
}
