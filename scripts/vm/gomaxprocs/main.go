// Command gomaxprocs prints what a Go program inside a pipe step sizes
// itself by: GOMAXPROCS (which Go 1.25+ derives from the cgroup's CPU
// limit) and the CPU count. The VM checks run it in a step with limits.
package main

import (
	"fmt"
	"runtime"
)

func main() {
	fmt.Printf("GOMAXPROCS=%d NumCPU=%d\n", runtime.GOMAXPROCS(0), runtime.NumCPU())
}
