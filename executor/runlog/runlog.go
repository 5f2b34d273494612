package runlog

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pipe-run/pipe/internal/atomicfile"
)

// Run logs: every run keeps its steps' full (masked) logs under
// runsDir/<runID>/<step>.log and a summary in runsDir/<runID>/run.json, for
// the last few runs; `pipe logs` prints them.
const (
	// DefaultKeepRuns is how many runs' logs are kept by default.
	DefaultKeepRuns = 20
	// MaxStepLogBytes bounds one step's log file; the rest is counted and the
	// file ends with a line saying how much was cut.
	MaxStepLogBytes = 100 << 20
	// SummarySchema names the version of run.json.
	SummarySchema  = "pipe.run/v1"
	runSummaryFile = "run.json"
)

// Summary is run.json: what `pipe logs` needs to find a run and its steps.
type Summary struct {
	Schema   string         `json:"schema"`
	RunID    string         `json:"run_id"`
	Pipeline string         `json:"pipeline,omitempty"`
	Started  time.Time      `json:"started"`
	Finished time.Time      `json:"finished,omitzero"`
	Status   string         `json:"status"` // "running", then ok, failed or canceled
	Counts   map[Status]int `json:"counts,omitempty"`
	Steps    []StepSummary  `json:"steps"`
}

// StepSummary is one step of a Summary, in the order steps were queued.
type StepSummary struct {
	Name       string `json:"name"`
	Status     Status `json:"status,omitempty"` // empty while it runs
	ExitCode   int    `json:"exit_code,omitempty"`
	DurationMS int64  `json:"duration_ms,omitempty"`
	Key        string `json:"key,omitempty"`
	CachedFrom string `json:"cached_from,omitempty"`
	Error      string `json:"error,omitempty"`
	Log        string `json:"log,omitempty"` // file name in the run's dir, when the step logged
}

// Log keeps the logs of one run. It is also a Sink: fed the run's
// events, it keeps run.json up to date, each write atomic (temp file and
// rename): written SummaryInterval after the run log is made (or at the
// run's end, whichever comes first), at pipeline_finished and at Close, and
// in between at most once per SummaryInterval, SummaryInterval after a
// change, so a run of many fast steps (cache hits) does not rewrite it per
// step. Until its first write the run's dir has no run.json: List shows
// it with status "unknown". Its methods are safe for concurrent use.
type Log struct {
	dir string
	mu  sync.Mutex
	sum Summary
	err error // first error writing run.json

	dirty  bool        // sum has changes not written yet
	timer  *time.Timer // the pending write of those changes
	closed bool
	pruned chan struct{} // closed when the removal of old runs ends (New); tests wait on it
}

// SummaryInterval bounds how stale run.json is while a run goes on.
const SummaryInterval = time.Second

// New creates runsDir/runID and takes the oldest runs out of the list
// so that at most keep (DefaultKeepRuns when keep <= 0) are kept, this one
// included. An old run is renamed to a dot name first (one rename: it is
// gone from `pipe logs` at once) and its files are removed in the
// background: removing them takes milliseconds on a disk without a journal
// or mounted with discard (MACHINE.md), and the run neither waits for it
// nor for it to end. What a run leaves half removed when it exits, the next
// one goes on removing; past keep such leftovers, New removes them
// before it returns, so a removal that keeps failing says why.
func New(runsDir, runID string, keep int) (*Log, error) {
	if err := CheckID(runID); err != nil {
		return nil, err
	}
	if keep <= 0 {
		keep = DefaultKeepRuns
	}
	if err := os.MkdirAll(runsDir, 0o755); err != nil {
		return nil, fmt.Errorf("run logs: %w", err)
	}
	ids, removed, err := scanRuns(runsDir)
	if err != nil {
		return nil, err
	}
	if len(removed) > keep {
		if err := removeRuns(runsDir, removed); err != nil {
			return nil, err
		}
		removed = nil
	}
	if len(ids) > keep-1 {
		for _, id := range ids[keep-1:] {
			gone := removedPrefix + id
			if err := os.Rename(filepath.Join(runsDir, id), filepath.Join(runsDir, gone)); err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					continue // another pipe took it out first
				}
				return nil, fmt.Errorf("run logs: take out old run: %w", err)
			}
			removed = append(removed, gone)
		}
	}
	dir := filepath.Join(runsDir, runID)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("run logs: %w", err)
	}
	r := &Log{dir: dir, sum: Summary{Schema: SummarySchema, RunID: runID, Started: time.Now(), Status: "running"},
		pruned: make(chan struct{})}
	// run.json is first written SummaryInterval from now, or at the
	// run's end if that comes first: a run of cache hits ends in a few
	// milliseconds, and each write is a new file (atomicfile), which costs
	// the most of a run log on a disk without a journal (MACHINE.md).
	r.dirty = true
	r.timer = time.AfterFunc(SummaryInterval, r.flush)
	go func() {
		defer close(r.pruned)
		// Best effort: what fails here is tried again by the next run, and
		// past keep leftovers it fails that run with the reason.
		_ = removeRuns(runsDir, removed)
	}()
	return r, nil
}

// removedPrefix starts the name of a run taken out of the list whose files
// are still being removed.
const removedPrefix = ".removed-"

// NewID returns a sortable, unique run ID: the UTC time t and 4 random
// bytes. A caller that needs the ID before the run starts (a cluster labels
// the run's objects by it) makes it here and passes it on.
func NewID(t time.Time) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return t.UTC().Format(idTimeLayout) + "-" + hex.EncodeToString(b)
}

// idTimeLayout is the time at the front of a run ID.
const idTimeLayout = "20060102T150405Z"

// CheckID rejects IDs that are not a single plain path element.
func CheckID(id string) error {
	if id == "" || id == "." || id == ".." || strings.ContainsAny(id, `/\`) || strings.ContainsRune(id, 0) {
		return fmt.Errorf("run logs: run ID %q is not a plain name", id)
	}
	return nil
}

// Dir returns the run's directory.
func (r *Log) Dir() string { return r.dir }

// Step returns the log file of step: runDir/<step>.log, created at the
// first write (a step that prints nothing leaves no file, and its summary
// entry no Log: a new file costs more than the rest of a `true` step on a
// disk without a journal). A retry's attempt starts the log afresh. Writes
// beyond MaxStepLogBytes are dropped and counted; Close then appends a line
// "… [log cut: N bytes not kept]". Give it to NewStepLog, which writes
// masked lines only.
func (r *Log) Step(step string) (io.WriteCloser, error) {
	name := StepFile(step)
	path := filepath.Join(r.dir, name)
	r.mu.Lock()
	e := r.stepEntry(step)
	had := e.Log != ""
	e.Log = ""
	r.mu.Unlock()
	if had { // an earlier attempt's
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("run log of step %s: %w", step, err)
		}
	}
	return &cappedFile{left: MaxStepLogBytes, open: func() (*os.File, error) {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("run log of step %s: %w", step, err)
		}
		r.mu.Lock()
		r.stepEntry(step).Log = name
		r.mu.Unlock()
		return f, nil
	}}, nil
}

// StepFile is the file name of step's log in a run's directory: the
// name escaped so that any step name is one safe path element.
func StepFile(step string) string {
	name := url.PathEscape(step)
	if strings.HasPrefix(name, ".") {
		name = "%2E" + name[1:]
	}
	return name + ".log"
}

// cappedFile writes up to left bytes to f, opened by open at the first
// write, and counts the rest. Its methods are safe for concurrent use.
type cappedFile struct {
	mu      sync.Mutex
	open    func() (*os.File, error)
	f       *os.File
	err     error // open's
	left    int64
	dropped int64
}

// Write writes what fits and reports all of p written (the rest is counted).
func (c *cappedFile) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(p) == 0 {
		return 0, nil
	}
	if c.f == nil && c.err == nil {
		c.f, c.err = c.open()
	}
	if c.err != nil {
		return 0, c.err
	}
	n := int64(len(p))
	if n > c.left {
		c.dropped += n - c.left
		p = p[:c.left]
	}
	if _, err := c.f.Write(p); err != nil {
		return 0, err
	}
	c.left -= int64(len(p))
	return int(n), nil
}

// Close marks a cut and closes the file, if there is one.
func (c *cappedFile) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	var err error
	if c.dropped > 0 {
		_, err = fmt.Fprintf(c.f, "\n… [log cut: %d bytes not kept, the limit is %d MB per step]\n", c.dropped, MaxStepLogBytes>>20)
	}
	err = errors.Join(err, c.f.Close())
	c.f, c.err = nil, errors.New("closed")
	return err
}

// stepEntry returns the summary entry of step, adding it if new.
func (r *Log) stepEntry(step string) *StepSummary {
	for i := range r.sum.Steps {
		if r.sum.Steps[i].Name == step {
			return &r.sum.Steps[i]
		}
	}
	r.sum.Steps = append(r.sum.Steps, StepSummary{Name: step})
	return &r.sum.Steps[len(r.sum.Steps)-1]
}

// Emit records e in run.json.
func (r *Log) Emit(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch e.Type {
	case EventPipelineStarted:
		r.sum.Started, r.sum.Pipeline = e.Time, e.Pipeline
	case EventStepQueued, EventStepStarted:
		r.stepEntry(e.Step)
		return
	case EventStepFinished:
		s := r.stepEntry(e.Step)
		s.Status, s.ExitCode, s.DurationMS = e.Status, e.ExitCode, e.Duration.Milliseconds()
		s.Key, s.CachedFrom, s.Error = e.Key, e.CachedFrom, e.Error
	case EventPipelineFinished:
		r.sum.Finished, r.sum.Status, r.sum.Counts = e.Time, string(e.Status), copyCounts(e.Counts)
		r.flushLocked()
		return
	default:
		return
	}
	r.dirty = true
	if r.timer == nil && !r.closed {
		r.timer = time.AfterFunc(SummaryInterval, r.flush)
	}
}

// flush writes pending changes (the timer's func).
func (r *Log) flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.timer = nil
	if r.dirty && !r.closed {
		r.flushLocked()
	}
}

// flushLocked writes run.json now and keeps the first error.
func (r *Log) flushLocked() {
	r.dirty = false
	if err := r.writeLocked(); err != nil && r.err == nil {
		r.err = err
	}
}

// copyCounts copies a Counts map (a Sink must not keep the event's).
func copyCounts(m map[Status]int) map[Status]int {
	if m == nil {
		return nil
	}
	c := make(map[Status]int, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Close writes run.json a last time if it has changes not written yet
// (status "canceled" when the run never reported its end) and returns the
// first error writing it. It does not wait for the removal of old runs (see
// New). Calls after the first return that error only.
func (r *Log) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	if r.closed {
		return r.err
	}
	r.closed = true
	if r.sum.Status == "running" {
		r.sum.Status, r.sum.Finished = string(StatusCanceled), time.Now()
		r.dirty = true
	}
	if r.dirty {
		r.flushLocked()
	}
	return r.err
}

// writeLocked writes run.json atomically.
func (r *Log) writeLocked() error {
	b, err := json.MarshalIndent(r.sum, "", "  ")
	if err != nil {
		return fmt.Errorf("run logs: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(r.dir, runSummaryFile), append(b, '\n'))
}

// List returns the runs kept in runsDir, newest first. Directories
// without a readable run.json are listed with their name as RunID, their
// mtime as Started and status "unknown".
func List(runsDir string) ([]Summary, error) {
	ents, err := os.ReadDir(runsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("run logs: %w", err)
	}
	var runs []Summary
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") { // dot names: runs being removed
			continue
		}
		s, err := Read(runsDir, e.Name())
		if err != nil {
			s = Summary{RunID: e.Name(), Status: "unknown"}
			if fi, err := e.Info(); err == nil {
				s.Started = fi.ModTime()
			}
		}
		runs = append(runs, s)
	}
	sort.SliceStable(runs, func(i, j int) bool {
		if !runs[i].Started.Equal(runs[j].Started) {
			return runs[i].Started.After(runs[j].Started)
		}
		return runs[i].RunID > runs[j].RunID
	})
	return runs, nil
}

// scanRuns lists the run IDs in runsDir, newest first, and the runs taken
// out whose files are still being removed (removedPrefix). When every name is
// a run ID as Run makes them (its start time, to the second, then a random
// suffix) the names give the order and no run.json is read; else it is
// List's order.
func scanRuns(runsDir string) (ids, removed []string, err error) {
	ents, err := os.ReadDir(runsDir)
	if err != nil {
		return nil, nil, fmt.Errorf("run logs: %w", err)
	}
	byName := true
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, removedPrefix):
			removed = append(removed, name)
		case !e.IsDir() || strings.HasPrefix(name, "."):
		default:
			if _, ok := IDTime(name); !ok {
				byName = false
			}
			ids = append(ids, name)
		}
	}
	if !byName {
		ids, err = listRunIDs(runsDir)
		return ids, removed, err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(ids))) // the time prefix sorts as text
	return ids, removed, nil
}

// IDTime parses the start time at the front of a run ID made by NewID.
func IDTime(id string) (time.Time, bool) {
	if len(id) <= len(idTimeLayout) || id[len(idTimeLayout)] != '-' {
		return time.Time{}, false
	}
	t, err := time.Parse(idTimeLayout, id[:len(idTimeLayout)])
	return t, err == nil
}

// listRunIDs is List's order, as IDs.
func listRunIDs(runsDir string) ([]string, error) {
	runs, err := List(runsDir)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(runs))
	for i, s := range runs {
		ids[i] = s.RunID
	}
	return ids, nil
}

// Read reads the run.json of one run.
func Read(runsDir, runID string) (Summary, error) {
	var s Summary
	if err := CheckID(runID); err != nil {
		return s, err
	}
	b, err := os.ReadFile(filepath.Join(runsDir, runID, runSummaryFile))
	if err != nil {
		return s, fmt.Errorf("run %s: %w", runID, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("run %s: %s: %w", runID, runSummaryFile, err)
	}
	return s, nil
}

// removeRuns removes the dirs names of runsDir.
func removeRuns(runsDir string, ids []string) error {
	var errs []error
	for _, id := range ids {
		if err := os.RemoveAll(filepath.Join(runsDir, id)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("run logs: remove old runs: %w", err)
	}
	return nil
}
