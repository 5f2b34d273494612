package kept

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/isolation"
	"github.com/pipe-run/pipe/pipeline"
)

// Schema names the version of record.json.
const Schema = "pipe.kept/v1"

// Max is how many kept failures the store holds.
const Max = 3

// Record is record.json: what is needed to recreate the container,
// never a secret's value.
type Record struct {
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
	Services    []Service         `json:"services,omitempty"` // started again by pipe debug --last
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
func Root(s *cache.Store) string { return filepath.Join(s.Root(), "kept") }

// Service is one service of a kept failure: what is needed to start it
// again, never a secret's value.
type Service struct {
	Name        string   `json:"name"`
	Image       string   `json:"image"`
	ImageDigest string   `json:"image_digest"`
	ImageLayers []string `json:"image_layers"` // extracted layer dirs in the store, bottom first
	Args        []string `json:"args"`         // its command (or the image's entrypoint and cmd)
	Env         []string `json:"env"`          // KEY=VALUE, image env included; none holding a secret
	Dir         string   `json:"dir"`
	User        string   `json:"user,omitempty"`
	Ready       *Ready   `json:"ready,omitempty"`
	Aliases     []string `json:"aliases,omitempty"`    // its other host names
	WaitPorts   []string `json:"wait_ports,omitempty"` // the exposed TCP ports it is waited for on (wait_ports)
}

// Ready is a service's ready check.
type Ready struct {
	Run      string        `json:"run"`
	Interval time.Duration `json:"interval_ns,omitempty"`
	Timeout  time.Duration `json:"timeout_ns,omitempty"`
	Retries  int           `json:"retries,omitempty"`
}

// serviceDigests are the image digests the kept services need leased.
func (rec *Record) ServiceDigests() []string {
	var ds []string
	for _, ks := range rec.Services {
		ds = append(ds, ks.ImageDigest)
	}
	return ds
}

// checkLayers fails when the layers of the step's or a service's image
// were pruned since.
func (rec *Record) CheckLayers() error {
	if err := rec.checkImage(rec.Image, rec.ImageLayers); err != nil {
		return err
	}
	for _, ks := range rec.Services {
		if err := rec.checkImage(ks.Image, ks.ImageLayers); err != nil {
			return fmt.Errorf("service %s: %w", ks.Name, err)
		}
	}
	return nil
}

// checkImage fails when a layer of image is gone from the store.
func (rec *Record) checkImage(image string, layers []string) error {
	for _, l := range layers {
		if _, err := os.Stat(l); err != nil {
			return fmt.Errorf("kept failure of step %s (run %s): layer %s of image %s is gone from the store (pruned?): pull %s again: %w",
				rec.Step, rec.RunID, filepath.Base(l), image, image, err)
		}
	}
	return nil
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
// kept failures beyond Max. It returns the kept dir.
func Publish(s *cache.Store, stage, name string, rec *Record) (string, error) {
	if err := writeJSONFile(filepath.Join(stage, "record.json"), rec); err != nil {
		return "", err
	}
	root := Root(s)
	if err := os.MkdirAll(root, 0o700); err != nil {
		return "", err
	}
	dst := filepath.Join(root, name)
	os.RemoveAll(dst) // a retry of the same step in the same run
	if err := os.Rename(stage, dst); err != nil {
		return "", fmt.Errorf("keep the failed state: %w", err)
	}
	recs, _ := List(s)
	for i := Max; i < len(recs); i++ {
		os.RemoveAll(recs[i].dir)
	}
	return dst, nil
}

// listKept returns the complete kept failures, newest first.
func List(s *cache.Store) ([]*Record, error) {
	root := Root(s)
	es, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var recs []*Record
	for _, e := range es {
		if rec, err := read(filepath.Join(root, e.Name())); err == nil {
			recs = append(recs, rec)
		}
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].Created.After(recs[j].Created) })
	return recs, nil
}

func read(dir string) (*Record, error) {
	b, err := os.ReadFile(filepath.Join(dir, "record.json"))
	if err != nil {
		return nil, err
	}
	var rec Record
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if rec.Schema != Schema {
		return nil, fmt.Errorf("%s: schema %q, want %q", dir, rec.Schema, Schema)
	}
	rec.dir = dir
	return &rec, nil
}

// lastKept is the newest kept failure, of step when it is not "".
func Last(s *cache.Store, step string) (*Record, error) {
	recs, err := List(s)
	if err != nil {
		return nil, fmt.Errorf("kept failures in %s: %w", Root(s), err)
	}
	for _, rec := range recs {
		if step == "" || rec.Step == step {
			return rec, nil
		}
	}
	if step != "" && len(recs) > 0 {
		return nil, fmt.Errorf("no kept failure of step %s (the last kept is of step %s): %w", step, recs[0].Step, ErrNone)
	}
	return nil, ErrNone
}

// ErrNone is returned when nothing was kept (of the step asked for): by
// Last, and so by executor.Debug with Last or Export.
var ErrNone = errors.New("no kept failure: run `pipe run --keep-failed` first")

// Path is the kept dir the record was read from ("" for a record not read
// by List or Last).
func (rec *Record) Path() string { return rec.dir }

// WorkspaceDir is where ws/ is mounted in the reopened container.
func (rec *Record) WorkspaceDir() string {
	if rec.Workspace != "" {
		return rec.Workspace
	}
	return pipeline.Workspace
}
