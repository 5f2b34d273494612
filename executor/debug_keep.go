package executor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/isolation"
	"github.com/pipe-run/pipe/pipeline"
)

// Kept failures (pipe run --keep-failed): when a step fails, its container's
// state is kept in the store under kept/<run>-<step>/:
//
//	root/         the root filesystem's upper dir (what the step wrote outside /workspace)
//	ws/           the workspace's upper dir (what it wrote under /workspace)
//	lower/0..N-1  the workspace's lower dirs (snapshot, then its dependencies'
//	              output layers), as hard-linked trees: no data copied, and
//	              safe from the end of the run and from pruning
//	record.json   the step's spec (KeptSchema) and its services' (image,
//	              command, env, ready check), secrets by name only
//
// record.json is written last, so a kept dir without it is incomplete and is
// ignored. The last maxKept failures are kept. pipe debug --last reopens the
// newest as a container whose lower dirs are the image's layers plus root/
// (for /) and lower/*, ws/ (for /workspace): nothing is rerun, but the
// step's services are started again (debug_services.go).

// KeptSchema names the version of record.json.
const KeptSchema = "pipe.kept/v1"

// maxKept is how many kept failures the store holds.
const maxKept = 3

// KeptRecord is record.json: what is needed to recreate the container,
// never a secret's value.
type KeptRecord struct {
	Schema      string            `json:"schema"`
	RunID       string            `json:"run_id"`
	Step        string            `json:"step"`
	Created     time.Time         `json:"created"`
	Image       string            `json:"image"`
	ImageDigest string            `json:"image_digest"`
	ImageLayers []string          `json:"image_layers"` // extracted layer dirs in the store, bottom first
	Lowers      int               `json:"workspace_lowers"`
	Env         []string          `json:"env"`     // KEY=VALUE without the secrets
	Secrets     []string          `json:"secrets"` // names only
	Dir         string            `json:"dir"`
	User        string            `json:"user,omitempty"`
	Network     string            `json:"network"`
	Limits      isolation.Limits  `json:"limits"`
	Caches      []pipeline.Cache  `json:"caches,omitempty"`
	Hosts       map[string]string `json:"hosts,omitempty"`
	Services    []keptService     `json:"services,omitempty"` // started again by pipe debug --last
	Command     int               `json:"command,omitempty"`  // the command that failed, 1-based
	CommandText string            `json:"command_text,omitempty"`
	ExitCode    int               `json:"exit_code"`
	Error       string            `json:"error"`
	// Workspace is where ws/ is mounted when it is not /workspace (a CI
	// runner's builds dir: job.Keep).
	Workspace string `json:"workspace,omitempty"`

	dir string // where it was read from
}

// keptRoot is where kept failures live in the store.
func keptRoot(s *cache.Store) string { return filepath.Join(s.Root(), "kept") }

// keepableRoot gives the step's root filesystem an upper dir of pipe's own
// when failures are kept (else the runtime's scratch dir is used, and lost
// with the container). The returned func removes what was not kept.
func (r *run) keepableRoot(spec *isolation.Spec) (func(), error) {
	if !r.o.KeepFailed {
		return func() {}, nil
	}
	upper, work, err := r.stagingPair()
	if err != nil {
		return nil, fmt.Errorf("root upper dir: %w", err)
	}
	spec.Root.Upper, spec.Root.Work = upper, work
	return func() { r.o.Store.RemoveStaging(upper); r.o.Store.RemoveStaging(work) }, nil
}

// keepFailure keeps the failed step's state, saying so in its log.
func (r *run) keepFailure(ctx context.Context, st *stepState, spec *isolation.Spec, current int, stepErr error, log *runlog.StepLog) {
	if !r.o.KeepFailed || spec.Root.Upper == "" || ctx.Err() != nil {
		return
	}
	dir, err := r.keepState(st, spec, current, stepErr)
	if err != nil {
		log.Note("keep-failed: could not keep the step's state: %v", err)
		return
	}
	log.Note("kept its state in %s: pipe debug --last opens a shell in it", dir)
}

// keepState moves the upper dirs into a new kept dir and records the spec.
func (r *run) keepState(st *stepState, spec *isolation.Spec, current int, stepErr error) (string, error) {
	stage, err := r.o.Store.NewStaging("kept")
	if err != nil {
		return "", err
	}
	defer r.o.Store.RemoveStaging(stage) // its tmp/ entry too, once stage is published
	ws := workspaceMount(spec)
	if ws == nil {
		return "", errors.New("the step has no workspace overlay")
	}
	if err := MoveDir(spec.Root.Upper, filepath.Join(stage, "root")); err != nil {
		return "", err
	}
	if err := MoveDir(ws.Overlay.Upper, filepath.Join(stage, "ws")); err != nil {
		return "", err
	}
	for i, l := range ws.Overlay.Lower {
		if err := linkTree(l, filepath.Join(stage, "lower", strconv.Itoa(i))); err != nil {
			return "", fmt.Errorf("keep workspace layer %s: %w", l, err)
		}
	}
	rec := r.keptRecordOf(st, spec, len(ws.Overlay.Lower), current, stepErr)
	return PublishKept(r.o.Store, stage, r.id+"-"+runlog.StepFile(st.step.Name), rec)
}

// KeptRecord describes the failed container.
func (r *run) keptRecordOf(st *stepState, spec *isolation.Spec, lowers, current int, stepErr error) *KeptRecord {
	s := st.step
	img := r.images[s.Image]
	rec := &KeptRecord{Schema: KeptSchema, RunID: r.id, Step: s.Name, Created: time.Now().UTC(),
		Image: img.Ref, ImageDigest: img.Digest.String(), ImageLayers: img.Layers, Lowers: lowers,
		Env: withoutNames(spec.Process.Env, s.Secrets), Secrets: s.Secrets, Dir: spec.Process.Dir,
		User: spec.Process.User, Network: string(spec.Network.Mode), Limits: spec.Limits, Caches: s.Caches,
		Hosts: spec.Hosts, Services: r.keptServices(s), ExitCode: st.exitCode, Error: r.masker.Mask(stepErr.Error())}
	if spec.Network.Mode == isolation.NetworkJoin {
		rec.Network = string(isolation.NetworkNone) // its services' namespace is gone: --last makes a new one
	}
	if !s.Script && current > 0 {
		rec.Command, rec.CommandText = current, s.Run[current-1]
	}
	return rec
}

// workspaceMount is the spec's /workspace overlay.
func workspaceMount(spec *isolation.Spec) *isolation.Mount {
	for i, m := range spec.Mounts {
		if m.Type == isolation.MountOverlay && m.Target == pipeline.Workspace {
			return &spec.Mounts[i]
		}
	}
	return nil
}

// withoutNames drops the KEY=VALUE entries whose KEY is in names.
func withoutNames(env, names []string) []string {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	var out []string
	for _, e := range env {
		k, _, _ := cutEnv(e)
		if !drop[k] {
			out = append(out, e)
		}
	}
	return out
}

func cutEnv(e string) (string, string, bool) {
	for i := 0; i < len(e); i++ {
		if e[i] == '=' {
			return e[:i], e[i+1:], true
		}
	}
	return e, "", false
}

// MoveDir renames src to dst (both on the store's filesystem): how a
// container's upper dir is moved into a kept failure's staging dir.
func MoveDir(src, dst string) error {
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("keep %s: %w", src, err)
	}
	return nil
}

// writeJSONFile writes v to path (a staging dir's file, published by rename).
func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o600)
}

// PublishKept writes rec as the staged dir's record.json, renames the dir
// into kept/name, where pipe debug --last finds it, and drops the oldest
// kept failures beyond maxKept. It returns the kept dir.
func PublishKept(s *cache.Store, stage, name string, rec *KeptRecord) (string, error) {
	if err := writeJSONFile(filepath.Join(stage, "record.json"), rec); err != nil {
		return "", err
	}
	root := keptRoot(s)
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", err
	}
	dst := filepath.Join(root, name)
	os.RemoveAll(dst) // a retry of the same step in the same run
	if err := os.Rename(stage, dst); err != nil {
		return "", fmt.Errorf("keep the failed state: %w", err)
	}
	recs, _ := listKept(s)
	for i := maxKept; i < len(recs); i++ {
		os.RemoveAll(recs[i].dir)
	}
	return dst, nil
}

// listKept returns the complete kept failures, newest first.
func listKept(s *cache.Store) ([]*KeptRecord, error) {
	root := keptRoot(s)
	es, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var recs []*KeptRecord
	for _, e := range es {
		if rec, err := readKept(filepath.Join(root, e.Name())); err == nil {
			recs = append(recs, rec)
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Created.After(recs[j].Created) })
	return recs, nil
}

func readKept(dir string) (*KeptRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, "record.json"))
	if err != nil {
		return nil, err
	}
	var rec KeptRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if rec.Schema != KeptSchema {
		return nil, fmt.Errorf("%s: schema %q, want %q", dir, rec.Schema, KeptSchema)
	}
	rec.dir = dir
	return &rec, nil
}

// lastKept is the newest kept failure, of step when it is not "".
func lastKept(s *cache.Store, step string) (*KeptRecord, error) {
	recs, err := listKept(s)
	if err != nil {
		return nil, fmt.Errorf("kept failures in %s: %w", keptRoot(s), err)
	}
	for _, rec := range recs {
		if step == "" || rec.Step == step {
			return rec, nil
		}
	}
	if step != "" && len(recs) > 0 {
		return nil, fmt.Errorf("no kept failure of step %s (the last kept is of step %s): %w", step, recs[0].Step, ErrNoKeptFailure)
	}
	return nil, ErrNoKeptFailure
}
