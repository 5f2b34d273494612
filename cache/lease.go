package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Lease keeps what a live run uses safe from Prune: image manifests (and so
// their configs and layers), layer diffIDs and result keys. A lease is a file
// in leases/ that this process keeps flocked; when the process dies the lock
// goes with it and the next Prune drops the lease. Its methods are safe for
// concurrent use. Add what you use before you use it; Release when done.
type Lease struct {
	s    *Store
	lock *fileLock
	base string // leases/<owner>-<rnd>, without extension

	mu       sync.Mutex
	ids      map[string]bool
	released bool
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
	n := len(l.ids)
	for _, id := range ids {
		l.ids[id] = true
	}
	if len(l.ids) == n {
		return nil
	}
	list := make([]string, 0, len(l.ids))
	for id := range l.ids {
		list = append(list, id)
	}
	sort.Strings(list)
	b, err := json.Marshal(list)
	if err != nil {
		return err
	}
	// Not synced: a lease only matters while its process lives and holds
	// its lock; after a crash it is a dead lease whatever it says.
	if err := l.s.replaceFile(l.base+".json", b, false); err != nil {
		return fmt.Errorf("lease: %w", err)
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
	os.Remove(l.base + ".json")
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
		if err := readLeaseIDs(base+".json", ids); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func readLeaseIDs(path string, into map[string]bool) error {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil // a live lease that holds nothing yet
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
