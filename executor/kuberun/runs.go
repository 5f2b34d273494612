package kuberun

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/runlog"
)

// Which runs are alive, for pruning a cluster: a run that runs pods holds
// <store>/kube-runs/<runID>.lock, flocked, from before its first pod until
// its pods and Secret are deleted (HoldRun). A killed pipe leaves the file
// unlocked; a run that could not clean up unlocks it and leaves it. So a
// run of this store whose file is unlocked is dead, and what it left in the
// cluster may go; a run whose file is locked is alive. A run with no file
// is another machine's (or a finished one's): only its age says anything.

// kubeRunsDir is where the run locks live in a store.
func kubeRunsDir(s *cache.Store) string { return filepath.Join(s.Root(), "kube-runs") }

// RunHold is a run's claim that it is alive (HoldRun).
type RunHold struct {
	f    *os.File
	once sync.Once
}

// HoldRun records, until Release, that the run runID of this process is
// alive and may have objects in a cluster.
func HoldRun(s *cache.Store, runID string) (*RunHold, error) {
	if err := runlog.CheckID(runID); err != nil {
		return nil, err
	}
	dir := kubeRunsDir(s)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("run lock: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, runID+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("run lock: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("run lock %s: %w (is another pipe running with this run ID?)", f.Name(), err)
	}
	return &RunHold{f: f}, nil
}

// Release ends the claim. cleaned says the run left nothing in the
// cluster: the record goes; otherwise it stays, unlocked, for the next
// `pipe cache prune --kubernetes`. Calls after the first do nothing.
func (h *RunHold) Release(cleaned bool) {
	h.once.Do(func() {
		if cleaned {
			os.Remove(h.f.Name())
		}
		h.f.Close() // drops the lock
	})
}

// RunLiveness decides, for a prune of a cluster, which runs to keep.
type RunLiveness struct {
	dir    string
	maxAge time.Duration
	now    time.Time

	mu   sync.Mutex
	dead []string // runs of this store found dead, whose records Forget removes
}

// NewRunLiveness judges runs by the locks in s; a run not of s is kept
// while it is younger than maxAge (by the time in its ID; one whose ID
// carries no time is kept).
func NewRunLiveness(s *cache.Store, maxAge time.Duration) *RunLiveness {
	return &RunLiveness{dir: kubeRunsDir(s), maxAge: maxAge, now: time.Now()}
}

// Keep reports whether the objects of runID must stay.
func (l *RunLiveness) Keep(runID string) bool {
	if runlog.CheckID(runID) != nil || strings.ContainsAny(runID, ".") {
		return true // not a name pipe makes: not ours to judge
	}
	f, err := os.OpenFile(filepath.Join(l.dir, runID+".lock"), os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		t, ok := runlog.IDTime(runID)
		return !ok || l.now.Sub(t) < l.maxAge
	}
	if err != nil {
		return true
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return true // held: the run is alive
	}
	l.mu.Lock()
	l.dead = append(l.dead, runID)
	l.mu.Unlock()
	return false
}

// Forget removes the records of the dead runs Keep found, once what they
// left is gone.
func (l *RunLiveness) Forget() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range l.dead {
		os.Remove(filepath.Join(l.dir, id+".lock"))
	}
	l.dead = nil
}
