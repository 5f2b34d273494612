//go:build !linux

package cache

import (
	"os"
	"syscall"
)

// procStart has no start time outside Linux: it only tells whether pid lives.
func procStart(pid int) (string, error) {
	p, err := os.FindProcess(pid)
	if err != nil {
		return "", err
	}
	if err := p.Signal(syscall.Signal(0)); err != nil {
		return "", err
	}
	return "0", nil
}
