package isolation

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// sealedSelf copies pipe's own binary into a sealed memfd, once per Runtime.
// Containers' inits are executed from it, so no container process can reach
// (or overwrite) the pipe binary on disk through /proc/<init>/exe
// (CVE-2019-5736). The returned file is read-only: an fd open for writing
// would make execve fail with ETXTBSY.
func sealedSelf() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("open pipe's own binary: %w", err)
	}
	defer src.Close()
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
		return nil, fmt.Errorf("copy pipe's binary into a memfd: %w", err)
	}
	if err := sealMemfd(fd); err != nil {
		return nil, err
	}
	ro, err := os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", fd), os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("reopen the memfd copy of pipe read-only: %w", err)
	}
	return ro, nil
}

// sealMemfd seals the memfd against any change, retrying while the kernel
// says its pages are still in use (EBUSY).
func sealMemfd(fd int) error {
	const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	var err error
	for range 20 {
		if _, err = unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != unix.EBUSY {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("seal the memfd copy of pipe: %w", err)
	}
	return nil
}
