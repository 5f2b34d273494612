//go:build !linux

package podagent

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// runChild needs Linux: a pod's containers are Linux processes.
func runChild(ctx context.Context, argv []string, sigs <-chan os.Signal, logf func(string, ...any)) childResult {
	return childResult{exit: 126, err: fmt.Errorf("pod-agent run needs Linux: %w", errors.ErrUnsupported)}
}

// forwardedSignals are the signals Run would pass on.
func forwardedSignals() []os.Signal { return []os.Signal{os.Interrupt} }
