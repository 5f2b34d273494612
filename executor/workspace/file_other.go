//go:build !linux

package workspace

import (
	"errors"
	"io/fs"
)

// cloneFile is not available: reflinks are used on Linux only.
func cloneFile(src, dst string, perm fs.FileMode) error {
	return errors.ErrUnsupported
}

// inodeOf returns 0: the hash cache then relies on size and mtime.
func inodeOf(fi fs.FileInfo) uint64 { return 0 }

// ownerOf reports no owner.
func ownerOf(fi fs.FileInfo) (uid, gid int, ok bool) { return 0, 0, false }

// localFS is false: listings are kept on Linux only.
func localFS(dir string) bool { return false }

// dirFDs is a no-op: scans use os.Lstat.
type dirFDs struct{ root string }

func (d *dirFDs) lstatRegular(rel string) (statKey, bool) { return statKey{}, false }
func (d *dirFDs) close()                                  {}
