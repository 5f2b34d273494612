//go:build linux

package cache

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// DiffTree writes to w the uncompressed OCI layer tar of what changed under
// dir since idx was taken (IndexTree of the same dir): every new or changed
// entry (see TreeIndex: a change of type, mode, owner, size, mtime, ctime,
// inode or link target), a .wh.NAME whiteout for every removed path (one for
// a removed dir, none for what it held), and the dirs on the way to them,
// which the OCI spec wants in a layer before their content. The form is
// layerTar's: names sorted, whiteouts before their siblings, each dir before
// its content, no user or group names, no atimes; the tree's root has no
// entry. Several names of one inode in the diff are written once and then
// as hardlinks. changed is false when nothing changed (w then holds an
// empty tar).
//
// No symlink is followed, so what the tar holds is only ever read from dir.
func DiffTree(ctx context.Context, idx *TreeIndex, dir string, w io.Writer) (changed bool, err error) {
	root, err := openTreeRoot(dir)
	if err != nil {
		return false, fmt.Errorf("diff %s: %w", dir, err)
	}
	defer unix.Close(root)
	bw := bufio.NewWriterSize(w, 64<<10)
	d := &differ{ctx: ctx, idx: idx, tw: tar.NewWriter(bw), links: map[uint64]string{}, buf: copyBufs.Get().(*[]byte)}
	defer copyBufs.Put(d.buf)
	err = d.dir(root, "")
	if err == nil {
		err = d.tw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return false, fmt.Errorf("diff %s: %w", dir, err)
	}
	return d.entries > 0, nil
}

// differ is the state of one DiffTree.
type differ struct {
	ctx     context.Context
	idx     *TreeIndex
	tw      *tar.Writer
	pending []pendingDir      // the dirs being walked, root first
	links   map[uint64]string // inodes written with several names: first tar name
	buf     *[]byte
	entries int
}

// pendingDir is a dir header written only once something under it is.
type pendingDir struct {
	hdr     *tar.Header
	written bool
}

// dir diffs the content of the dir rel, open as dfd.
func (d *differ) dir(dfd int, rel string) error {
	if err := d.ctx.Err(); err != nil {
		return err
	}
	items, err := dirItems(dfd)
	if err != nil {
		return fmt.Errorf("%s: %w", displayRel(rel), err)
	}
	if err := d.whiteouts(rel, items); err != nil {
		return err
	}
	for i := range items {
		if err := d.item(dfd, rel, &items[i]); err != nil {
			return err
		}
	}
	return nil
}

// whiteouts writes one for each name of the dir rel in the index (if it
// was a dir there) that is no longer in items.
func (d *differ) whiteouts(rel string, items []treeItem) error {
	if old, ok := d.idx.Entry(rel); rel != "" && (!ok || old.Mode&unix.S_IFMT != unix.S_IFDIR) {
		return nil
	}
	i := 0
	for _, name := range d.idx.childrenOf(rel) {
		for i < len(items) && items[i].name < name {
			i++
		}
		if i < len(items) && items[i].name == name {
			continue
		}
		if err := d.write(&tar.Header{Typeflag: tar.TypeReg, Name: joinRel(rel, whiteoutPrefix+name), ModTime: time.Unix(0, 0), Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	return nil
}

// item diffs one entry of the dir rel: written if it changed, walked if it
// is a dir.
func (d *differ) item(dfd int, rel string, it *treeItem) error {
	p := joinRel(rel, it.name)
	old, ok := d.idx.entries[p]
	changed := !ok || !it.same(old)
	if !it.isDir() {
		if !changed {
			return nil
		}
		return d.nonDir(dfd, p, it)
	}
	xattrs, err := diffXattrs(dfd, it.name)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	h := statHeader(p+"/", &it.st, xattrs)
	d.pending = append(d.pending, pendingDir{hdr: h})
	defer func() { d.pending = d.pending[:len(d.pending)-1] }()
	if changed {
		if err := d.flush(); err != nil {
			return err
		}
	}
	fd, err := openSubdir(dfd, it.name)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer unix.Close(fd)
	return d.dir(fd, p)
}

// nonDir writes a changed file, symlink, fifo or device.
func (d *differ) nonDir(dfd int, p string, it *treeItem) error {
	xattrs, err := diffXattrs(dfd, it.name)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	h := statHeader(p, &it.st, xattrs)
	switch it.st.Mode & unix.S_IFMT {
	case unix.S_IFLNK:
		h.Linkname = it.link
	case unix.S_IFREG:
		return d.regular(dfd, it, h)
	}
	return d.write(h)
}

// regular writes a file's content, or a hardlink to its first name.
func (d *differ) regular(dfd int, it *treeItem, h *tar.Header) error {
	if it.st.Nlink > 1 {
		if first, ok := d.links[it.st.Ino]; ok {
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
			return d.write(h)
		}
		d.links[it.st.Ino] = h.Name
	}
	f, err := openRegular(dfd, it.name, &it.st)
	if err != nil {
		return fmt.Errorf("%s: %w", h.Name, err)
	}
	defer f.Close()
	if err := d.write(h); err != nil {
		return err
	}
	n, err := io.CopyBuffer(d.tw, struct{ io.Reader }{io.LimitReader(f, h.Size)}, *d.buf)
	if err == nil && n != h.Size {
		err = fmt.Errorf("%s: file shrank from %d to %d bytes while being read", h.Name, h.Size, n)
	}
	return err
}

// write writes h after the headers of the dirs above it.
func (d *differ) write(h *tar.Header) error {
	if err := d.flush(); err != nil {
		return err
	}
	d.entries++
	return d.tw.WriteHeader(h)
}

// flush writes the headers of the dirs being walked not written yet.
func (d *differ) flush() error {
	for i := range d.pending {
		if !d.pending[i].written {
			d.pending[i].written = true
			d.entries++
			if err := d.tw.WriteHeader(d.pending[i].hdr); err != nil {
				return err
			}
		}
	}
	return nil
}

// diffXattrs reads the xattrs of name in dfd that a layer carries: the
// overlay's own never (a plain tree has none that mean anything, and a layer
// must not smuggle them in), security labels but capabilities neither.
func diffXattrs(dfd int, name string) (map[string]string, error) {
	p := procFd(dfd) + "/" + name
	names, err := listXattrs(p)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	var m map[string]string
	for _, n := range names {
		if n == userWhiteout || !tarXattr(n) {
			continue
		}
		v, err := getXattr(p, n)
		if err != nil {
			return nil, err
		}
		if m == nil {
			m = map[string]string{}
		}
		m[n] = v
	}
	return m, nil
}

// openRegular opens the regular file name in dfd for reading, and checks
// that it is still the inode st describes: a file swapped meanwhile for a
// fifo or a device (by a process still running beside the diff) is an
// error, never a read that blocks or never ends.
func openRegular(dfd int, name string, st *unix.Stat_t) (*os.File, error) {
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open: %w", err)
	}
	var now unix.Stat_t
	if err := unix.Fstat(fd, &now); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("stat: %w", err)
	}
	if now.Mode&unix.S_IFMT != unix.S_IFREG || now.Ino != st.Ino || now.Dev != st.Dev {
		unix.Close(fd)
		return nil, errors.New("replaced while the diff was being written: something is still changing the tree")
	}
	return os.NewFile(uintptr(fd), name), nil
}
