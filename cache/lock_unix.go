//go:build unix

package cache

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// fileLock is a held flock on one file. flock locks belong to the open file,
// so two goroutines of one process exclude each other like two processes do,
// and the kernel drops the lock when its holder dies.
type fileLock struct {
	f *os.File
}

// lockFile takes a shared or exclusive flock on path (created if missing),
// waiting until it is free or ctx is done.
func lockFile(ctx context.Context, path string, exclusive bool) (*fileLock, error) {
	wait := time.Millisecond
	for {
		l, ok, err := tryLockFile(path, exclusive)
		if err != nil || ok {
			return l, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("wait for lock %s: %w", path, ctx.Err())
		case <-t.C:
		}
		wait = min(wait*2, 50*time.Millisecond)
	}
}

// tryLockFile takes the lock if it is free; ok is false when it is held.
func tryLockFile(path string, exclusive bool) (l *fileLock, ok bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("open lock: %w", err)
	}
	how := unix.LOCK_SH
	if exclusive {
		how = unix.LOCK_EX
	}
	if err := flock(f, how|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return &fileLock{f: f}, true, nil
}

// flock wraps flock(2), retrying on EINTR.
func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			if err != nil {
				return &os.PathError{Op: "flock", Path: f.Name(), Err: err}
			}
			return nil
		}
	}
}

// Unlock releases the lock; it is safe to call more than once.
func (l *fileLock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Close() // closing the last descriptor releases the flock
	l.f = nil
}

// append writes b at the lock file's offset (its end, for a file only this
// lock writes).
func (l *fileLock) append(b []byte) error {
	_, err := l.f.Write(b)
	return err
}
