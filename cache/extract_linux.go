//go:build linux

package cache

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// extractLayer extracts the uncompressed OCI layer tar r into dir, an existing
// empty staging dir, in overlay form: each whiteout .wh.NAME becomes a 0/0
// character device NAME (as root), each opaque marker .wh..wh..opq becomes the
// overlay.opaque=y xattr of its dir. See extractOptions for what root changes.
//
// Nothing is ever written outside dir: names that climb out are refused, every
// parent dir is opened without following symlinks (an entry written through a
// symlink planted by an earlier entry is refused), hardlinks may only point at
// files extracted earlier in the same layer. Every error is a *LayerError.
// Nothing is fsynced: call syncDir once the layer is complete.
func extractLayer(ctx context.Context, r io.Reader, dir string, opts extractOptions) (extractStats, error) {
	opts = opts.withDefaults()
	x, err := newExtractor(dir, opts)
	if err != nil {
		return extractStats{}, &LayerError{Image: opts.Image, Layer: opts.Layer, Err: err}
	}
	defer x.close()
	if err := x.run(ctx, r); err != nil {
		return x.stats, err
	}
	return x.stats, nil
}

// extractor is the state of one extraction. It is used by one goroutine.
type extractor struct {
	opts       extractOptions
	root       int                 // O_PATH fd of the staging dir
	parentName string              // the parent dir of the last entry ...
	parentFd   int                 // ... and its O_PATH fd (-1: none)
	dirs       map[string]dirMeta  // dir entries, for the final pass
	dirOrder   []string            // their names, first seen first
	placed     map[string]struct{} // non-dir entries extracted so far (hardlink targets)
	stats      extractStats
	entries    int
	total      int64
	creds      createCreds
	// handle applies one entry; nil means entry. ApplyLayer sets its own,
	// which gives whiteouts and hardlinks their meaning on an existing tree.
	handle func(ctx context.Context, hdr *tar.Header, body *chunkReader) error
}

// createCreds is what a newly created file gets without chown or chmod, so
// the common case (a root-owned 0644 file, extracted as root) costs neither.
type createCreds struct {
	uid, gid int    // the owner of new files: the process's
	umask    uint32 // the process's umask
	known    bool   // umask read, and no setgid dir makes new files inherit a group
}

// dirMeta is what the final pass sets on a dir once its content is written.
type dirMeta struct {
	mode         uint32
	atime, mtime unix.Timespec
}

func newExtractor(dir string, opts extractOptions) (*extractor, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open the staging dir %s: %w", dir, err)
	}
	return &extractor{
		opts: opts, root: fd, parentFd: -1,
		dirs:   map[string]dirMeta{},
		placed: map[string]struct{}{},
		creds:  readCreateCreds(fd),
	}, nil
}

// readCreateCreds learns the umask (from /proc, since umask(2) cannot read
// it without changing it) and whether the staging dir is setgid. Dirs the
// extraction makes only get their modes in the final pass, so none of them
// is setgid while files are created.
func readCreateCreds(root int) createCreds {
	c := createCreds{uid: unix.Geteuid(), gid: unix.Getegid()}
	var st unix.Stat_t
	if unix.Fstat(root, &st) != nil || st.Mode&unix.S_ISGID != 0 {
		return c
	}
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return c
	}
	_, rest, ok := strings.Cut(string(b), "\nUmask:\t")
	if !ok || len(rest) < 4 {
		return c
	}
	m, err := strconv.ParseUint(rest[:4], 8, 32)
	c.umask, c.known = uint32(m), err == nil
	return c
}

// needChown: does a file created now need a chown to get uid:gid?
func (c createCreds) needChown(uid, gid int) bool {
	return !c.known || uid != c.uid || gid != c.gid
}

// needChmod: does a file created now with mode&0777 need a chmod to get mode?
func (c createCreds) needChmod(mode uint32) bool {
	return !c.known || mode&^0o777 != 0 || mode&c.umask != 0
}

func (x *extractor) close() {
	x.dropParent()
	unix.Close(x.root)
}

// fail wraps err with the image, layer and entry.
func (x *extractor) fail(entry string, err error) error {
	return &LayerError{Image: x.opts.Image, Layer: x.opts.Layer, Entry: entry, Err: err}
}

// entry checks one tar entry against the guards and dispatches on its type.
func (x *extractor) entry(ctx context.Context, hdr *tar.Header, body *chunkReader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	if err := x.guard(hdr); err != nil {
		return err
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	dir, base := splitName(name)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return x.whiteout(dir, base)
	}
	if name == "." {
		return x.rootEntry(hdr)
	}
	pfd, err := x.parent(dir)
	if err != nil {
		return err
	}
	e := at{pfd: pfd, name: name, base: base}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.mkdir(e, hdr)
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse: // the reader expands sparse files
		return x.file(ctx, e, hdr, body)
	case tar.TypeSymlink:
		return x.symlink(e, hdr)
	case tar.TypeLink:
		return x.hardlink(e, hdr)
	case tar.TypeFifo:
		return x.node(e, hdr, unix.S_IFIFO, 0)
	case tar.TypeChar, tar.TypeBlock:
		return x.device(e, hdr)
	default:
		return fmt.Errorf("unsupported tar entry type %q", hdr.Typeflag)
	}
}

// guard enforces MaxEntries and MaxSize.
func (x *extractor) guard(hdr *tar.Header) error {
	x.entries++
	if x.entries > x.opts.MaxEntries {
		return unsafeEntry("the layer has more than %d entries", x.opts.MaxEntries)
	}
	if hdr.Size > x.opts.MaxSize {
		return unsafeEntry("size %d bytes exceeds the limit of %d bytes", hdr.Size, x.opts.MaxSize)
	}
	x.total += hdr.Size
	if x.total > x.opts.MaxSize {
		return unsafeEntry("the layer's content exceeds the limit of %d bytes", x.opts.MaxSize)
	}
	return nil
}

// at names an entry: its parent dir's fd, its clean name and its base name.
type at struct {
	pfd  int
	name string
	base string
}

// rootEntry applies a "./" dir entry's metadata to the layer root.
func (x *extractor) rootEntry(hdr *tar.Header) error {
	if hdr.Typeflag != tar.TypeDir {
		return unsafeEntry("replaces the layer root with a non-directory")
	}
	if x.opts.Root {
		if err := unix.Fchownat(x.root, "", hdr.Uid, hdr.Gid, unix.AT_EMPTY_PATH); err != nil {
			return x.chownError(hdr, err)
		}
	}
	if err := x.setXattrs(procFd(x.root), hdr, unix.Setxattr); err != nil {
		return err
	}
	x.recordDir(".", hdr)
	return nil
}

// recordDir keeps a dir's mode and times for the final pass.
func (x *extractor) recordDir(name string, hdr *tar.Header) {
	if _, ok := x.dirs[name]; !ok {
		x.dirOrder = append(x.dirOrder, name)
	}
	atime, mtime := entryTimes(hdr)
	x.dirs[name] = dirMeta{mode: x.mode(hdr), atime: atime, mtime: mtime}
}

// mode is the entry's permission bits, minus setuid/setgid when not root.
func (x *extractor) mode(hdr *tar.Header) uint32 {
	m := uint32(hdr.Mode) & 0o7777
	if !x.opts.Root {
		m &^= unix.S_ISUID | unix.S_ISGID
	}
	return m
}

// finishDirs sets each dir's mode and times, now that its content is written.
// A dir replaced by a later entry is skipped.
func (x *extractor) finishDirs(ctx context.Context) error {
	for i, name := range x.dirOrder {
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return x.fail("", err)
			}
		}
		if m, ok := x.dirs[name]; ok {
			if err := x.finishDir(name, m); err != nil {
				return x.fail(name, fmt.Errorf("set the dir's mode and times: %w", err))
			}
		}
	}
	return nil
}

func (x *extractor) finishDir(name string, m dirMeta) error {
	fd, err := openBeneath(x.root, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Fchmod(fd, m.mode); err != nil {
		return fmt.Errorf("chmod: %w", err)
	}
	return futimens(fd, m.atime, m.mtime)
}
