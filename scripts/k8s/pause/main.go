//go:build ignore

// Command pause is the sandbox ("pause") container of the test cluster's
// pods: it holds the pod's namespaces open, reaps the children it inherits
// and exits on SIGTERM or SIGINT. scripts/k8s/build compiles it statically
// into a one-layer image; it is not part of pipe.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sig {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
