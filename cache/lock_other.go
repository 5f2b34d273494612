//go:build !unix

package cache

import (
	"context"
	"errors"
)

var errNoFlock = errors.New("cache: the store needs flock, which this platform lacks")

type fileLock struct{}

func lockFile(ctx context.Context, path string, exclusive bool) (*fileLock, error) {
	return nil, errNoFlock
}

func tryLockFile(path string, exclusive bool) (*fileLock, bool, error) {
	return nil, false, errNoFlock
}

func (l *fileLock) Unlock() {}

func (l *fileLock) append(b []byte) error { return errNoFlock }
