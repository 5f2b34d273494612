package cache

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
)

// pullContext carries what one Pull or Import reports: progress on a
// terminal and warnings. Its methods are safe for concurrent use and do
// nothing when there is nowhere to report.
type pullContext struct {
	name     string
	progress io.Writer // nil: no progress display
	warn     func(string)
	keychain authn.Keychain // registry credentials

	mu         sync.Mutex
	layers     int
	layersDone int
	bytes      int64
	last       time.Time
	printed    bool
}

func newPullContext(name string, o PullOptions) *pullContext {
	pc := &pullContext{name: name, progress: o.Progress, warn: o.Warn, keychain: o.Keychain}
	if pc.keychain == nil {
		pc.keychain = authn.DefaultKeychain
	}
	if pc.warn == nil && o.Progress != nil {
		pc.warn = func(msg string) { fmt.Fprintf(o.Progress, "\r\033[Kwarning: %s\n", msg) }
	}
	return pc
}

func (pc *pullContext) warnf(format string, a ...any) {
	if pc != nil && pc.warn != nil {
		pc.warn(fmt.Sprintf(format, a...))
	}
}

func (pc *pullContext) imageName() string {
	if pc == nil {
		return ""
	}
	return pc.name
}

func (pc *pullContext) setLayers(n int) {
	if pc == nil {
		return
	}
	pc.mu.Lock()
	pc.layers = n
	pc.mu.Unlock()
}

func (pc *pullContext) addBytes(n int64) {
	if pc == nil {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.bytes += n
	pc.draw(false)
}

func (pc *pullContext) layerDone() {
	if pc == nil {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.layersDone++
	pc.draw(true)
}

func (pc *pullContext) layerCached(layerSource) { pc.layerDone() }

// draw rewrites the progress line, at most ten times a second unless forced.
func (pc *pullContext) draw(force bool) {
	if pc.progress == nil || (!force && time.Since(pc.last) < 100*time.Millisecond) {
		return
	}
	pc.last = time.Now()
	pc.printed = true
	fmt.Fprintf(pc.progress, "\r\033[K%s: %d/%d layers, %s", pc.name, pc.layersDone, pc.layers, HumanBytes(pc.bytes))
}

// finish ends the progress line.
func (pc *pullContext) finish() {
	if pc == nil || pc.progress == nil {
		return
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.printed {
		pc.draw(true)
		fmt.Fprintln(pc.progress)
	}
}

// HumanBytes formats a byte count the way du -h does (1.5 MB, 12 kB).
func HumanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}
