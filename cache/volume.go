package cache

import (
	"context"
	"fmt"
	"os"
	"sync"
)

// Volume returns the directory of the named cache volume (e.g. a module or
// package cache kept between runs), created empty the first time. The caller
// holds it exclusively until release is called: a second caller, in this or
// another process, waits until then or until ctx is done.
func (s *Store) Volume(ctx context.Context, name string) (dir string, release func(), err error) {
	return s.volume(ctx, name, true)
}

// SharedVolume is Volume for a cache that its tools keep safe for concurrent
// use (go's build and module caches): any number of SharedVolume holders at
// once, but none while a Volume holder (or prune) has it.
func (s *Store) SharedVolume(ctx context.Context, name string) (dir string, release func(), err error) {
	return s.volume(ctx, name, false)
}

func (s *Store) volume(ctx context.Context, name string, exclusive bool) (dir string, release func(), err error) {
	if err := checkName("volume", name); err != nil {
		return "", nil, err
	}
	l, err := lockFile(ctx, s.lockPath("volume-"+name), exclusive)
	if err != nil {
		return "", nil, fmt.Errorf("volume %s: %w", name, err)
	}
	dir = s.path(volumesDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		l.Unlock()
		return "", nil, fmt.Errorf("volume %s: %w", name, err)
	}
	var once sync.Once
	return dir, func() { once.Do(l.Unlock) }, nil
}
