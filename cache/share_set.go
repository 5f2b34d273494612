package cache

import (
	"context"
	"errors"
	"sync"
)

// Shared is a store's view of its shared caches: repositories read in order
// (the first that has an entry wins) and at most one written. It is what
// pipe run's --cache-from and --cache-to make, and what moves results and
// volumes between machines. Its methods are safe for concurrent use.
//
// Trust is the caller's to arrange, by which repositories it lists: a run of
// trusted code (a protected branch) reads and writes one repository; runs of
// untrusted code read it and write another, which trusted runs never read.
type Shared struct {
	Store *Store
	From  []*Remote // read, in order
	To    *Remote   // written; nil: read only
	// VolumeMax caps the bytes of a pushed cache volume (the oldest files
	// stay local); 0 is DefaultVolumeMax, < 0 no cap.
	VolumeMax int64
}

// FetchResult looks key up in every read repository at once (one request
// each); the first repository in order that has it wins, and its result is
// fetched into the store and returned with the repository's name. A miss
// returns a nil Result. errs are the failures met on the way (each a
// *RemoteError: a registry that failed, a tampered entry skipped), for the
// caller to report; they never stop the lookup in the other repositories.
func (sh *Shared) FetchResult(ctx context.Context, key string) (res *Result, from string, errs []error) {
	hits := make([]*resultHit, len(sh.From))
	lookErrs := make([]error, len(sh.From))
	var wg sync.WaitGroup
	for i, rem := range sh.From {
		if err := rem.readable(); err != nil {
			lookErrs[i] = rem.errorf(err, "look up step result %s", key)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := rem.lookupResult(ctx, key)
			if err != nil && !errors.Is(err, ErrNotFound) {
				rem.fail(err, false)
				lookErrs[i] = rem.errorf(err, "look up step result %s", key)
			}
			hits[i] = h
		}()
	}
	wg.Wait()
	for i, h := range hits {
		if lookErrs[i] != nil {
			errs = append(errs, lookErrs[i])
		}
		if h == nil || res != nil {
			continue
		}
		r, err := sh.Store.fetchHit(ctx, h)
		if err != nil {
			h.rem.fail(err, false)
			errs = append(errs, h.rem.errorf(err, "fetch step result %s", key))
			continue
		}
		res, from = r, h.rem.String()
	}
	return res, from, errs
}

// PushResult pushes the stored result of key to the write repository, once
// (see Store.PushResult). With no write repository it does nothing.
func (sh *Shared) PushResult(ctx context.Context, key string) (bool, error) {
	if sh.To == nil {
		return false, nil
	}
	return sh.Store.PushResult(ctx, sh.To, key)
}

// Writes is the write repository, or "".
func (sh *Shared) Writes() string {
	if sh.To == nil {
		return ""
	}
	return sh.To.String()
}

// RestoreVolume brings the named volume up to date from the write
// repository, or from the first read repository when the write repository
// does not hold it (or there is none). See Store.RestoreVolume. A nil report
// and error: no repository to restore from.
func (sh *Shared) RestoreVolume(ctx context.Context, name string) (*VolumeReport, error) {
	var repos []*Remote
	if sh.To != nil {
		repos = append(repos, sh.To)
	}
	if len(sh.From) > 0 && (sh.To == nil || sh.From[0].String() != sh.To.String()) {
		repos = append(repos, sh.From[0])
	}
	var rep *VolumeReport
	for _, rem := range repos {
		var err error
		if rep, err = sh.Store.RestoreVolume(ctx, rem, name, sh.volumeMax()); err != nil || !rep.Missing {
			return rep, err
		}
	}
	return rep, nil
}

// PushVolume pushes the named volume to the write repository when it
// changed (see Store.PushVolume); with no write repository it does nothing.
func (sh *Shared) PushVolume(ctx context.Context, name, runID string) (*VolumeReport, error) {
	if sh.To == nil {
		return nil, nil
	}
	return sh.Store.PushVolume(ctx, sh.To, name, VolumeOptions{Max: sh.volumeMax(), RunID: runID})
}

func (sh *Shared) volumeMax() int64 {
	if sh.VolumeMax == 0 {
		return DefaultVolumeMax
	}
	return sh.VolumeMax
}
