//go:build linux

package cache

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// mkdir creates a dir, or updates the metadata of the dir already there.
// Its mode and times are set in the final pass, after its content.
func (x *extractor) mkdir(e at, hdr *tar.Header) error {
	err := unix.Mkdirat(e.pfd, e.base, 0o700)
	if errors.Is(err, unix.EEXIST) {
		var st unix.Stat_t
		if err = unix.Fstatat(e.pfd, e.base, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			err = x.replace(e, func() error { return unix.Mkdirat(e.pfd, e.base, 0o700) })
		}
	}
	if err != nil {
		return fmt.Errorf("create dir: %w", err)
	}
	if err := x.chown(e, hdr); err != nil {
		return err
	}
	if err := x.setXattrs(procPath(e), hdr, unix.Lsetxattr); err != nil {
		return err
	}
	x.recordDir(e.name, hdr)
	x.stats.Dirs++
	return nil
}

// file writes a regular file, replacing whatever had its name.
func (x *extractor) file(ctx context.Context, e at, hdr *tar.Header, body *chunkReader) error {
	var fd int
	create := func() (err error) {
		fd, err = unix.Openat(e.pfd, e.base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, x.mode(hdr)&0o777)
		return err
	}
	if err := x.createOrReplace(e, create); err != nil {
		return fmt.Errorf("create file: %w", err)
	}
	err := x.writeFile(ctx, fd, e, hdr, body)
	if cerr := unix.Close(fd); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	if err != nil {
		return err
	}
	x.placed[e.name] = struct{}{}
	x.stats.Files++
	return nil
}

// writeFile copies the content, then sets owner, mode, xattrs and times on
// the open fd, in that order: chown clears setuid bits and capabilities.
// The file was created with its permission bits: chown and chmod are only
// called when the creation did not already give the right result.
func (x *extractor) writeFile(ctx context.Context, fd int, e at, hdr *tar.Header, body *chunkReader) error {
	n, err := body.writeTo(ctx, fd)
	x.stats.Bytes += n
	if err != nil {
		return fmt.Errorf("write content (%d of %d bytes): %w", n, hdr.Size, err)
	}
	if x.opts.Root && x.creds.needChown(hdr.Uid, hdr.Gid) {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return x.chownError(hdr, err)
		}
	}
	if mode := x.mode(hdr); x.creds.needChmod(mode) {
		if err := unix.Fchmod(fd, mode); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
	}
	if len(hdr.PAXRecords) > 0 {
		set := func(_, attr string, v []byte, flags int) error { return unix.Fsetxattr(fd, attr, v, flags) }
		if err := x.setXattrs("", hdr, set); err != nil {
			return err
		}
	}
	atime, mtime := entryTimes(hdr)
	return futimens(fd, atime, mtime)
}

// fill reads into buf until it is full or r ends; unlike io.ReadFull it
// keeps io.ErrUnexpectedEOF for a truncated stream, and io.EOF for its end.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// writeAll writes b to fd, retrying short writes and EINTR.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// symlink creates a symlink with the target verbatim: it is never followed
// while extracting, so even an absolute target pointing "out" is harmless.
func (x *extractor) symlink(e at, hdr *tar.Header) error {
	err := x.createOrReplace(e, func() error { return unix.Symlinkat(hdr.Linkname, e.pfd, e.base) })
	if err != nil {
		return fmt.Errorf("create symlink to %q: %w", hdr.Linkname, err)
	}
	if err := x.pathMeta(e, hdr); err != nil {
		return err
	}
	x.placed[e.name] = struct{}{}
	x.stats.Links++
	return nil
}

// hardlink links to a non-dir extracted earlier in this layer. The link is to
// the target's own inode: a target that is a symlink is not followed.
func (x *extractor) hardlink(e at, hdr *tar.Header) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
	}
	if target == e.name {
		return nil // a link to itself: already there if its target is
	}
	if _, ok := x.placed[target]; !ok {
		return unsafeEntry("hardlink target %q is not a file extracted earlier in this layer", hdr.Linkname)
	}
	tdir, tbase := splitName(target)
	tfd := e.pfd
	if tdir != x.parentName {
		if tfd, err = openBeneath(x.root, tdir, unix.O_PATH|unix.O_DIRECTORY); err != nil {
			return x.lookupError(tdir, fmt.Sprintf("hardlink target %q", hdr.Linkname), err)
		}
		defer unix.Close(tfd)
	}
	err = x.createOrReplace(e, func() error { return unix.Linkat(tfd, tbase, e.pfd, e.base, 0) })
	if err != nil {
		return fmt.Errorf("hardlink to %q: %w", hdr.Linkname, err)
	}
	x.placed[e.name] = struct{}{}
	x.stats.Links++
	return nil
}

// device creates a char or block device, if the options allow devices.
func (x *extractor) device(e at, hdr *tar.Header) error {
	kind, typ := "char", uint32(unix.S_IFCHR)
	if hdr.Typeflag == tar.TypeBlock {
		kind, typ = "block", unix.S_IFBLK
	}
	if !x.opts.AllowDevices {
		return fmt.Errorf("%s device %d:%d refused: device nodes in layers are only created when pipe runs as root with devices allowed", kind, hdr.Devmajor, hdr.Devminor)
	}
	return x.node(e, hdr, typ, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))))
}

// node creates a fifo or device node.
func (x *extractor) node(e at, hdr *tar.Header, typ uint32, dev int) error {
	mode := x.mode(hdr)
	if err := x.createOrReplace(e, func() error { return unix.Mknodat(e.pfd, e.base, typ|mode, dev) }); err != nil {
		return fmt.Errorf("mknod: %w", err)
	}
	if err := x.pathMeta(e, hdr); err != nil {
		return err
	}
	// mknod applied the umask, and chown may have cleared setuid bits.
	if err := unix.Fchmodat(e.pfd, e.base, mode, 0); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	x.placed[e.name] = struct{}{}
	x.stats.Files++
	return nil
}

// pathMeta sets owner, xattrs and times of a non-regular, non-dir entry by
// name, never following it.
func (x *extractor) pathMeta(e at, hdr *tar.Header) error {
	if err := x.chown(e, hdr); err != nil {
		return err
	}
	if err := x.setXattrs(procPath(e), hdr, unix.Lsetxattr); err != nil {
		return err
	}
	atime, mtime := entryTimes(hdr)
	ts := []unix.Timespec{atime, mtime}
	if err := unix.UtimesNanoAt(e.pfd, e.base, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set times: %w", err)
	}
	return nil
}

// chown gives the entry its uid/gid when running as root.
func (x *extractor) chown(e at, hdr *tar.Header) error {
	if !x.opts.Root {
		return nil
	}
	if err := unix.Fchownat(e.pfd, e.base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return x.chownError(hdr, err)
	}
	return nil
}
