package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Store is pipe's on-disk store under one root. Its methods are safe for
// concurrent use by several goroutines and by several processes sharing the
// root.
type Store struct {
	root     string
	owner    string    // "<pid>-<start>": prefix of every tmp/ entry and lease this process creates
	rootless *Rootless // set by OpenRootless: pipe runs as root of a user namespace

	// transport and backoff override go-containerregistry's defaults (tests).
	transport http.RoundTripper
	backoff   *remote.Backoff
}

// DefaultRoot is where the store lives: $PIPE_HOME, else /var/lib/pipe when
// running as root, else $XDG_DATA_HOME/pipe, else ~/.local/share/pipe.
func DefaultRoot() string {
	if h := os.Getenv("PIPE_HOME"); h != "" {
		return h
	}
	if os.Geteuid() == 0 {
		return "/var/lib/pipe"
	}
	return UserRoot(os.Getuid())
}

// UserRoot is the store of the ordinary user uid, also when pipe runs for
// them rootless (as uid 0 of a user namespace, where DefaultRoot would say
// root's): $PIPE_HOME, else $XDG_DATA_HOME/pipe, else ~/.local/share/pipe.
func UserRoot(uid int) string {
	if h := os.Getenv("PIPE_HOME"); h != "" {
		return h
	}
	if x := os.Getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "pipe")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "pipe")
	}
	return filepath.Join(os.TempDir(), "pipe-"+fmt.Sprint(uid))
}

// Open opens the store at root, creating its layout when missing, and
// removes the tmp/ entries and leases left by processes that are gone.
func Open(root string) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", root, err)
	}
	owner, err := ownerToken(os.Getpid())
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", root, err)
	}
	s := &Store{root: abs, owner: owner}
	if err := s.init(); err != nil {
		return nil, fmt.Errorf("open store %s: %w (set PIPE_HOME to a writable directory)", abs, err)
	}
	if err := s.cleanTmp(); err != nil {
		return nil, fmt.Errorf("open store %s: clean tmp: %w", abs, err)
	}
	return s, nil
}

// Root is the store's root directory.
func (s *Store) Root() string { return s.root }

// RunsDir is where the executor keeps run logs.
func (s *Store) RunsDir() string { return s.path(runsDir) }

// TempDir is the store's staging directory, on the store's filesystem: what
// is created there can be renamed into the store. Prefer NewStaging, whose
// entries are removed once their process is gone.
func (s *Store) TempDir() string { return s.path(tmpDir) }

// init creates the layout and checks its version.
func (s *Store) init() error {
	for _, d := range storeDirs {
		if err := os.MkdirAll(s.path(d), 0o755); err != nil {
			return err
		}
	}
	return s.checkLayout()
}

type layoutInfo struct {
	Version int `json:"version"`
}

func (s *Store) checkLayout() error {
	p := s.path(layoutFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		b, _ = json.Marshal(layoutInfo{Version: layoutVersion})
		return s.writeFileAtomic(p, b)
	}
	if err != nil {
		return err
	}
	var li layoutInfo
	if err := json.Unmarshal(b, &li); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if li.Version > layoutVersion {
		return fmt.Errorf("%s: layout version %d is newer than this pipe's (%d): upgrade pipe or use another PIPE_HOME", p, li.Version, layoutVersion)
	}
	return nil
}
