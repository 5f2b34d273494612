//go:build !unix

package cache

import "syscall"

// syscallEXDEV is rename's "not on the same filesystem".
const syscallEXDEV = syscall.Errno(18)

// blocksOf returns a file's size: no inode or block count here.
func blocksOf(fi interface {
	Sys() any
	Size() int64
}) (uint64, int64) {
	return 0, fi.Size()
}
