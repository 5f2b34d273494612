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
	if err := checkName("volume", name); err != nil {
		return "", nil, err
	}
	l, err := lockFile(ctx, s.lockPath("volume-"+name), true)
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
