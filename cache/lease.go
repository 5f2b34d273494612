package cache

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Lease keeps what a live run uses safe from Prune: image manifests (and so
// their configs and layers), layer diffIDs and result keys. A lease is a file
// leases/<owner>-<rnd>.lock that this process keeps flocked, holding the ids
// one per line; when the process dies the lock goes with it and the next
// Prune drops the lease. Each Add appends its new ids with one write, so a
// run's lease is one file however many ids it adds (a new file per Add cost
// more than the rest of a cached step on a disk without a journal). Its
// methods are safe for concurrent use. Add what you use before you use it;
// Release when done.
type Lease struct {
	s    *Store
	lock *fileLock
	base string // leases/<owner>-<rnd>, without extension

	mu       sync.Mutex
	ids      map[string]bool
	released bool
	err      error // the first failed write: the lease may miss ids since
}

// Lease starts a lease for the calling run.
func (s *Store) Lease(ctx context.Context) (*Lease, error) {
	base := s.path(leasesDir, s.owner+"-"+randomSuffix())
	// Lock under a temporary name, then rename: Prune never sees an unlocked
	// live lease.
	tmp := base + ".new"
	l, err := lockFile(ctx, tmp, true)
	if err != nil {
		return nil, fmt.Errorf("lease: %w", err)
	}
	if err := os.Rename(tmp, base+".lock"); err != nil {
		l.Unlock()
		os.Remove(tmp)
		return nil, fmt.Errorf("lease: %w", err)
	}
	return &Lease{s: s, lock: l, base: base, ids: map[string]bool{}}, nil
}

// Add records ids (digests "sha256:<hex>" of images or layers, or result
// keys) as in use.
func (l *Lease) Add(ids ...string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return fmt.Errorf("lease %s: already released", filepath.Base(l.base))
	}
	if l.err != nil {
		return l.err
	}
	var b []byte
	for _, id := range ids {
		if l.ids[id] {
			continue
		}
		if id == "" || strings.ContainsAny(id, "\n\r") {
			return fmt.Errorf("lease: id %q is not one line", id)
		}
		l.ids[id] = true
		b = append(append(b, id...), '\n')
	}
	if len(b) == 0 {
		return nil
	}
	// One write of whole lines: a Prune reading meanwhile sees the ids of
	// every Add that returned, and at worst a last line cut short, which it
	// ignores (that Add has not returned yet). Not synced: a lease only
	// matters while its process lives and holds its lock; after a crash it
	// is a dead lease whatever it says.
	if err := l.lock.append(b); err != nil {
		l.err = fmt.Errorf("lease: %w", err)
		return l.err
	}
	return nil
}

// Release ends the lease; it is safe to call more than once.
func (l *Lease) Release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.released {
		return
	}
	l.released = true
	os.Remove(l.base + ".lock")
	l.lock.Unlock()
}

// liveLeases returns the ids held by live leases and removes dead ones.
func (s *Store) liveLeases() (map[string]bool, error) {
	locks, err := filepath.Glob(s.path(leasesDir, "*.lock"))
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	for _, lp := range locks {
		base := strings.TrimSuffix(lp, ".lock")
		l, free, err := tryLockFile(lp, true)
		if err != nil {
			return nil, err
		}
		if free { // its process is gone
			os.Remove(base + ".json")
			os.Remove(lp)
			l.Unlock()
			continue
		}
		if err := readLeaseIDs(lp, ids); err != nil {
			return nil, err
		}
		// A lease of a pipe from before the ids moved into the lock file.
		if err := readLegacyLeaseIDs(base+".json", ids); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// readLeaseIDs reads the ids of a lease's lock file: whole lines only (an
// Add may be writing the last one).
func readLeaseIDs(path string, into map[string]bool) error {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil // released meanwhile
	}
	if err != nil {
		return err
	}
	for {
		line, rest, ok := bytes.Cut(b, []byte{'\n'})
		if !ok {
			return nil
		}
		if len(line) > 0 {
			into[string(line)] = true
		}
		b = rest
	}
}

// readLegacyLeaseIDs reads a lease's ids from the JSON list older pipes
// wrote beside the lock file.
func readLegacyLeaseIDs(path string, into map[string]bool) error {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("lease %s: %w", path, err)
	}
	for _, id := range list {
		into[id] = true
	}
	return nil
}

// gcShared is held by writers while they add to the store, so Prune (which
// holds it exclusively) never removes what is being added.
func (s *Store) gcShared(ctx context.Context) (*fileLock, error) {
	return lockFile(ctx, s.lockPath("gc"), false)
}
