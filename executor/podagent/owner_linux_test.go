package podagent

import (
	"fmt"
	"io/fs"
	"syscall"
)

// ownerOf is " uid:gid" of a file.
func ownerOf(fi fs.FileInfo) string {
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf(" %d:%d", st.Uid, st.Gid)
}
