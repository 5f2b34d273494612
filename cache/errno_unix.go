//go:build unix

package cache

import "syscall"

// syscallEXDEV is rename's "not on the same filesystem".
const syscallEXDEV = syscall.EXDEV

// blocksOf returns a file's inode and allocated bytes.
func blocksOf(fi interface {
	Sys() any
	Size() int64
}) (uint64, int64) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino), int64(st.Blocks) * 512
	}
	return 0, fi.Size()
}
