package isolation

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// sealedSelf returns the file containers' inits are executed from, once per
// Runtime: pipe's own binary, reached so that no process can overwrite the
// binary on disk through it (/proc/<init>/exe, CVE-2019-5736). First
// through a read-only overlayfs mount attached nowhere (overlaySelf: no
// copy, runc 1.2 does the same), else as a sealed memfd copy (memfdSelf:
// 10 MB to copy at every pipe start).
func sealedSelf(stateDir string) (*os.File, error) {
	f, err := overlaySelf(stateDir)
	if err != nil {
		if f, err = memfdSelf(); err != nil {
			return nil, err
		}
	}
	return highFD(f)
}

// minExeFD is the lowest fd the sealed binary may have. An init is
// executed as /proc/self/fd/N after its fds 0, 1, 2 and 3 (its socket) are
// in place: an N among them (pipe started with only stdio open, as under a
// terminal) would execute the socket (EACCES). Go's fork moves at most one
// fd per child file above those, far below this.
const minExeFD = 100

// highFD moves f to an fd of at least minExeFD (close-on-exec, as before).
func highFD(f *os.File) (*os.File, error) {
	defer f.Close()
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, minExeFD)
	if err != nil {
		return nil, &os.PathError{Op: "fcntl F_DUPFD_CLOEXEC", Path: f.Name(), Err: err}
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

// overlaySelf opens pipe's binary through a detached overlayfs mount made
// of two lower dirs only (the binary's dir, and an empty one): such an
// overlay has no upper dir, so every write through it fails with EROFS,
// and as it is attached to no mount namespace no container can remount
// it. The handle is O_PATH: it can be executed, never written. It is
// checked to be the very file pipe runs (size, mode and times: overlayfs
// may renumber inodes), so a binary replaced on disk since pipe started is
// not taken for it.
func overlaySelf(stateDir string) (*os.File, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil || !filepath.IsAbs(exe) || strings.HasSuffix(exe, " (deleted)") {
		return nil, fmt.Errorf("pipe's binary has no path to overlay (%q): %v", exe, err)
	}
	f, err := openReadOnly(exe, filepath.Join(stateDir, "exe-lower"))
	if err != nil {
		return nil, err
	}
	if err := sameBinary(f, "/proc/self/exe"); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// openReadOnly opens file (O_PATH) through a detached read-only overlay of
// its dir over empty, an empty dir it makes if needed.
func openReadOnly(file, empty string) (*os.File, error) {
	if err := os.MkdirAll(empty, 0o700); err != nil {
		return nil, err
	}
	dir, name := filepath.Split(file)
	mfd, err := readOnlyOverlay(escapeLowerDir(filepath.Clean(dir)) + ":" + escapeLowerDir(empty))
	if err != nil {
		return nil, err
	}
	defer unix.Close(mfd)
	fd, err := unix.Openat(mfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open through overlay", Path: file, Err: err}
	}
	return os.NewFile(uintptr(fd), "pipe-init"), nil
}

// readOnlyOverlay returns a detached, read-only overlay of lower dirs.
func readOnlyOverlay(lower string) (int, error) {
	fsfd, err := unix.Fsopen("overlay", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, &os.PathError{Op: "fsopen", Path: "overlay", Err: err}
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigSetString(fsfd, "lowerdir", lower); err != nil {
		return -1, &os.PathError{Op: "fsconfig lowerdir", Path: lower, Err: err}
	}
	// xino is of no use here, and where the lower dirs lie on different
	// filesystems the kernel would log about it: off, where it is known.
	_ = unix.FsconfigSetString(fsfd, "xino", "off")
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, &os.PathError{Op: "fsconfig create", Path: "overlay", Err: err}
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return -1, &os.PathError{Op: "fsmount", Path: "overlay", Err: err}
	}
	return mfd, nil
}

// escapeLowerDir escapes what overlayfs's lowerdir option treats as
// special in a dir name: the separator ':' and the escape '\'.
func escapeLowerDir(dir string) string {
	return strings.NewReplacer(`\`, `\\`, ":", `\:`).Replace(dir)
}

// sameBinary checks that f is the file at path by size, mode and times.
func sameBinary(f *os.File, path string) error {
	var a, b unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &a); err != nil {
		return &os.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	if err := unix.Stat(path, &b); err != nil {
		return &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if a.Size != b.Size || a.Mode != b.Mode || a.Mtim != b.Mtim || a.Ctim != b.Ctim {
		return fmt.Errorf("the binary at pipe's path is not the one running (replaced since pipe started?)")
	}
	return nil
}

// memfdSelf copies pipe's own binary into a sealed memfd.
func memfdSelf() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("open pipe's own binary: %w", err)
	}
	defer src.Close()
	return sealedMemfd(src, "pipe")
}

// sealedInit is the file containers' inits are executed from when the
// Runtime is given an init binary (Options.Init): one sealed memfd copy
// of it, at an fd of at least minExeFD. Bytes that are not an ELF
// executable are refused here, rather than at each container's exec.
func sealedInit(b []byte) (*os.File, error) {
	if err := checkInitELF(b); err != nil {
		return nil, err
	}
	f, err := sealedMemfd(bytes.NewReader(b), "the container init")
	if err != nil {
		return nil, err
	}
	return highFD(f)
}

// checkInitELF refuses an Options.Init that is not an ELF executable.
func checkInitELF(b []byte) error {
	if !bytes.HasPrefix(b, []byte("\x7fELF")) {
		return fmt.Errorf("the container init given (Options.Init, %d bytes) is not an ELF executable: rebuild pipe with make build", len(b))
	}
	return nil
}

// sealedMemfd copies src into a sealed memfd. The returned file is
// read-only: an fd open for writing would make execve fail with ETXTBSY.
// what names the copy in errors.
func sealedMemfd(src io.Reader, what string) (*os.File, error) {
	fd, err := unix.MemfdCreate("pipe-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING|unix.MFD_EXEC)
	if err == unix.EINVAL { // before Linux 6.3, MFD_EXEC is unknown (and implied)
		fd, err = unix.MemfdCreate("pipe-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	}
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	rw := os.NewFile(uintptr(fd), "pipe-init")
	defer rw.Close()
	// A plain read/write copy: splice or sendfile could leave the memfd's
	// pages referenced for a while, and F_SEAL_WRITE then fails with EBUSY.
	buf := make([]byte, 1<<20)
	if _, err := io.CopyBuffer(struct{ io.Writer }{rw}, struct{ io.Reader }{src}, buf); err != nil {
		return nil, fmt.Errorf("copy %s into a memfd: %w", what, err)
	}
	if err := sealMemfd(fd, what); err != nil {
		return nil, err
	}
	ro, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("reopen the memfd copy of %s read-only: %w", what, err)
	}
	return ro, nil
}

// sealMemfd seals the memfd against any change, retrying while the kernel
// says its pages are still in use (EBUSY).
func sealMemfd(fd int, what string) error {
	const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	var err error
	for range 20 {
		if _, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != unix.EBUSY {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("seal the memfd copy of %s: %w", what, err)
	}
	return nil
}
