package isolation

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// The container init given to a Runtime (Options.Init) is 2-3 MB. Sealing
// a memfd copy of it at every New costs a pipe process ~1.2 ms of CPU
// (copy, page allocation and charge; perf, 2-core VM) and as much memory
// per pipe process, for bytes that are the same in every run of one pipe
// binary. With Options.InitKey the Runtime keeps one copy per key under
// StateDir/init and opens it through a read-only overlay attached to no
// mount namespace (openReadOnly), as it does pipe's own binary: no write
// can reach the copy through the handle, /proc/<init>/exe or a remount
// (CVE-2019-5736), and every run shares the copy's page cache.
//
// The copy is as trusted as pipe's binary on disk: StateDir is root's
// (0700; rootless, the user's), and whoever can write there can replace
// pipe itself. It is written once, into a temporary dir renamed into
// place, so no Runtime ever sees it half-written; one of a wrong size is
// replaced.

// initStoreKeep is how many stored inits (pipe builds) StateDir keeps.
const initStoreKeep = 4

// storedInit returns an O_PATH handle on the stored copy of b under key,
// at an fd of at least minExeFD, writing the copy first if need be.
func storedInit(stateDir, key string, b []byte) (*os.File, error) {
	if !validName(key) || key[0] == '.' {
		return nil, fmt.Errorf("init key %q: want 1 to 128 of [a-zA-Z0-9_.-], not starting with a dot", key)
	}
	if err := checkInitELF(b); err != nil {
		return nil, err
	}
	root := filepath.Join(stateDir, "init")
	file := filepath.Join(root, key, "pipe-init")
	if !storedSize(file, len(b)) {
		if err := storeInit(root, key, b); err != nil {
			return nil, err
		}
	}
	f, err := openReadOnly(file, filepath.Join(stateDir, "exe-lower"))
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Size != int64(len(b)) {
		f.Close()
		return nil, fmt.Errorf("the stored init %s changed under pipe", file)
	}
	return highFD(f)
}

// storedSize says whether file is a regular file of size n.
func storedSize(file string, n int) bool {
	var st unix.Stat_t
	return unix.Lstat(file, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size == int64(n)
}

// storeInit writes b as root/key/pipe-init: into a temporary dir, renamed
// into place whole. A copy of a wrong size there is moved aside first;
// another pipe writing the same key at once wins or loses the rename, and
// either way the copy in place is whole. Older keys beyond initStoreKeep
// are removed.
func storeInit(root, key string, b []byte) error {
	if err := os.MkdirAll(root, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(root, ".new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := os.WriteFile(filepath.Join(tmp, "pipe-init"), b, 0o500); err != nil {
		return err
	}
	dst := filepath.Join(root, key)
	if _, err := os.Lstat(dst); err == nil {
		old := filepath.Join(root, ".old-"+strconv.Itoa(os.Getpid())+"-"+key)
		if err := os.Rename(dst, old); err != nil {
			return err
		}
		defer os.RemoveAll(old)
	}
	if err := os.Rename(tmp, dst); err != nil && !storedSize(filepath.Join(dst, "pipe-init"), len(b)) {
		return fmt.Errorf("store the container init: %w", err)
	}
	pruneInits(root, key)
	return nil
}

// pruneInits removes all but the initStoreKeep most recent keys (by the
// time each was stored), never keep. A pipe process that still runs from
// one removed holds its handle open, and the file stays until it is gone.
func pruneInits(root, keep string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	type stored struct {
		name string
		mod  int64
	}
	var all []stored
	for _, e := range entries {
		if e.Name() == keep || e.Name()[0] == '.' || !e.IsDir() {
			continue
		}
		if fi, err := e.Info(); err == nil {
			all = append(all, stored{e.Name(), fi.ModTime().UnixNano()})
		}
	}
	slices.SortFunc(all, func(a, b stored) int { return cmp.Compare(b.mod, a.mod) })
	for i, s := range all {
		if i >= initStoreKeep-1 {
			_ = os.RemoveAll(filepath.Join(root, s.name))
		}
	}
}

// ExecutableKey is an InitKey for an init embedded in the running binary:
// it names that binary (device, inode, size, modification and change
// times), so any new build, installed anywhere or rebuilt in place, has a
// new one. "" where the binary cannot be told.
func ExecutableKey() string {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return ""
	}
	h := fnv.New64a()
	var b []byte
	for _, v := range []int64{int64(st.Dev), int64(st.Ino), st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec} {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	h.Write(b)
	return fmt.Sprintf("exe-%016x", h.Sum64())
}
