package podagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Done is the content of /.pipe/done: the step's exit code.
type Done struct {
	Exit int `json:"exit"`
}

// Pushed is the content of /.pipe/pushed.json: the pushed diff, or why
// there is none. Unchanged says the step changed nothing in the workspace
// (no layer pushed). Volumes[i] is the diff of Spec.Volumes[i], nil when
// the step left that cache volume as it was.
type Pushed struct {
	Layer
	Unchanged bool     `json:"unchanged,omitempty"`
	Volumes   []*Layer `json:"volumes,omitempty"`
	Error     string   `json:"error,omitempty"`
}

// MarshalJSON leaves the layer's fields out when there is no layer.
func (p Pushed) MarshalJSON() ([]byte, error) {
	if p.Digest == "" {
		return json.Marshal(struct {
			Unchanged bool     `json:"unchanged,omitempty"`
			Volumes   []*Layer `json:"volumes,omitempty"`
			Error     string   `json:"error,omitempty"`
		}{p.Unchanged, p.Volumes, p.Error})
	}
	type plain Pushed
	return json.Marshal(plain(p))
}

// Termination is the step container's termination message, which the
// coordinator reads from the pod's status: the exit code, and the diff
// (absent when the step changed nothing) or the error that kept it from
// being pushed. OOM says the OOM killer killed a process of the step
// (the count of the container's memory cgroup rose while it ran).
//
// The push container's termination message, written when it is stopped,
// is its pushed.json (see Pushed).
type Termination struct {
	Exit  int    `json:"exit"`
	Diff  *Layer `json:"diff,omitempty"`
	OOM   bool   `json:"oom,omitempty"`
	Error string `json:"error,omitempty"`
}

// maxTermination is what Kubernetes keeps of a termination message.
const maxTermination = 4096

// encode is the message as JSON, its error cut to fit the limit.
func (t Termination) encode() []byte {
	for {
		b, _ := json.Marshal(t)
		if len(b) <= maxTermination || t.Error == "" {
			return b
		}
		cut := max(0, len(t.Error)-(len(b)-maxTermination)-16)
		t.Error = t.Error[:cut] + "..."
	}
}

// errorMessage is the termination message {"error":msg}, cut to fit: the
// init container's.
func errorMessage(msg string) []byte {
	if len(msg) > maxTermination/2 {
		msg = msg[:maxTermination/2] + "..."
	}
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	return b
}

// writeJSONAtomic writes v as JSON to p: a temp file beside it, synced,
// renamed over p, so that a reader sees the whole file or none.
func writeJSONAtomic(p string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeFileAtomic(p, b, 0o644)
}

// writeFileAtomic writes b to p atomically with the mode perm.
func writeFileAtomic(p string, b []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// readJSON decodes the file p into v.
func readJSON(p string, v any) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	return nil
}

// pollInterval is how often the agents look for each other's files.
const pollInterval = 100 * time.Millisecond

// waitJSON waits until the file p exists, then decodes it into v. It ends
// with ctx's error when ctx is done first. A file that does not decode is
// an error: its writer renames it into place whole.
func waitJSON(ctx context.Context, p string, v any) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		err := readJSON(p, v)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-t.C:
		}
	}
}
