//go:build linux

package cache

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// writeLayerTar writes the OCI layer tar of the overlay-form dir to w.
func writeLayerTar(w io.Writer, dir string) error {
	lt := &layerTarWriter{
		tw:    tar.NewWriter(w),
		root:  dir,
		links: map[fileID]string{},
		buf:   copyBufs.Get().(*[]byte),
	}
	defer copyBufs.Put(lt.buf)
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("tar %s: %w", dir, err)
	}
	if err := lt.dirContent("", dir); err != nil {
		return fmt.Errorf("tar %s: %w", dir, err)
	}
	if err := lt.tw.Close(); err != nil {
		return fmt.Errorf("tar %s: %w", dir, err)
	}
	return nil
}

// fileID identifies an inode, to write its further names as hardlinks.
type fileID struct{ dev, ino uint64 }

// layerTarWriter is the state of one writeLayerTar.
type layerTarWriter struct {
	tw    *tar.Writer
	root  string
	links map[fileID]string // inodes with several names: first tar name
	buf   *[]byte
}

// dirContent writes the entries of the dir rel (at path p): its opaque
// marker, its whiteouts, then its other entries, each group sorted by name
// and each dir followed by its own content. The OCI spec asks for whiteouts
// before their sibling entries.
func (lt *layerTarWriter) dirContent(rel, p string) error {
	if opaque, err := isOpaque(p); err != nil {
		return err
	} else if opaque {
		if err := lt.marker(rel + opaqueMarker); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	var rest []*tarItem
	for _, e := range ents {
		it, err := statItem(rel+e.Name(), filepath.Join(p, e.Name()))
		if err != nil {
			return err
		}
		if it.whiteout {
			dir, base := splitName(it.name)
			if err := lt.marker(strings.TrimPrefix(dir+"/", "./") + whiteoutPrefix + base); err != nil {
				return err
			}
			continue
		}
		rest = append(rest, it)
	}
	for _, it := range rest {
		if err := lt.entry(it); err != nil {
			return err
		}
	}
	return nil
}

// marker writes a whiteout or opaque marker: an empty file, mode 0, owned
// by root, dated 1970 (a deletion has no content whose time matters, and a
// fixed date keeps the tar reproducible).
func (lt *layerTarWriter) marker(name string) error {
	return lt.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, ModTime: time.Unix(0, 0), Format: tar.FormatPAX})
}

// tarItem is a dir entry with what layerTar needs to know of it.
type tarItem struct {
	name, path string
	st         unix.Stat_t
	xattrs     map[string]string
	whiteout   bool
}

// statItem stats p (not following it) and reads its xattrs.
func statItem(name, p string) (*tarItem, error) {
	it := &tarItem{name: name, path: p}
	if err := unix.Lstat(p, &it.st); err != nil {
		return nil, err
	}
	var err error
	if it.xattrs, err = readXattrs(p); err != nil {
		return nil, err
	}
	it.whiteout = isWhiteout(&it.st, it.xattrs)
	return it, nil
}

// entry writes one entry (and a dir's content).
func (lt *layerTarWriter) entry(it *tarItem) error {
	h := statHeader(it.name, &it.st, it.xattrs)
	switch it.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		h.Name += "/"
		if err := lt.tw.WriteHeader(h); err != nil {
			return err
		}
		return lt.dirContent(h.Name, it.path)
	case unix.S_IFREG:
		return lt.regular(h, it.path, &it.st)
	case unix.S_IFLNK:
		var err error
		if h.Linkname, err = os.Readlink(it.path); err != nil {
			return err
		}
	case unix.S_IFSOCK:
		return nil // sockets have no tar form
	}
	return lt.tw.WriteHeader(h)
}

// regular writes a file's content, or a hardlink to its first name.
func (lt *layerTarWriter) regular(h *tar.Header, p string, st *unix.Stat_t) error {
	if st.Nlink > 1 {
		id := fileID{uint64(st.Dev), st.Ino}
		if first, ok := lt.links[id]; ok {
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, first, 0
			return lt.tw.WriteHeader(h)
		}
		lt.links[id] = h.Name
	}
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := lt.tw.WriteHeader(h); err != nil {
		return err
	}
	n, err := io.CopyBuffer(lt.tw, struct{ io.Reader }{io.LimitReader(f, h.Size)}, *lt.buf)
	if err == nil && n != h.Size {
		err = fmt.Errorf("%s: file shrank from %d to %d bytes while being read", h.Name, h.Size, n)
	}
	return err
}

// statHeader is the tar header of a stat result: no user or group names, no
// atime, nanosecond mtime (PAX).
func statHeader(name string, st *unix.Stat_t, xattrs map[string]string) *tar.Header {
	h := &tar.Header{
		Name:    name,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
		Format:  tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		h.Typeflag = tar.TypeDir
	case unix.S_IFREG:
		h.Typeflag, h.Size = tar.TypeReg, st.Size
	case unix.S_IFLNK:
		h.Typeflag = tar.TypeSymlink
	case unix.S_IFIFO:
		h.Typeflag = tar.TypeFifo
	case unix.S_IFCHR, unix.S_IFBLK:
		h.Typeflag = tar.TypeChar
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			h.Typeflag = tar.TypeBlock
		}
		h.Devmajor, h.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	}
	for k, v := range xattrs {
		if k == userWhiteout {
			continue
		}
		if h.PAXRecords == nil {
			h.PAXRecords = map[string]string{}
		}
		h.PAXRecords["SCHILY.xattr."+k] = v
	}
	return h
}

// isWhiteout: a 0/0 char device, or an xwhiteout file.
func isWhiteout(st *unix.Stat_t, xattrs map[string]string) bool {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFCHR:
		return st.Rdev == 0
	case unix.S_IFREG:
		_, ok := xattrs[userWhiteout]
		return ok && st.Size == 0
	}
	return false
}

// isOpaque: the dir has overlay.opaque=y (trusted or user namespace).
func isOpaque(p string) (bool, error) {
	for _, attr := range []string{trustedOpaque, userOpaque} {
		v, err := getXattr(p, attr)
		if err != nil {
			return false, err
		}
		if v == opaqueValue {
			return true, nil
		}
	}
	return false, nil
}

// readXattrs reads the xattrs of p (not following it). The overlay's own
// xattrs are kept out of the result except user.overlay.whiteout, which
// isWhiteout needs; security labels other than capabilities are dropped.
func readXattrs(p string) (map[string]string, error) {
	names, err := listXattrs(p)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	m := map[string]string{}
	for _, n := range names {
		if err := partialUpper(n); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if !tarXattr(n) {
			continue
		}
		v, err := getXattr(p, n)
		if err != nil {
			return nil, err
		}
		m[n] = v
	}
	return m, nil
}

// partialUpper refuses the overlay xattrs that mean an upper dir entry does
// not hold its whole content: a metacopy file (data in a lower layer) or a
// redirected dir (renamed, content still in a lower layer). Mount the overlays
// whose upper dirs become layers with metacopy=off,redirect_dir=off.
func partialUpper(name string) error {
	switch strings.TrimPrefix(strings.TrimPrefix(name, "trusted."), "user.") {
	case "overlay.metacopy", "overlay.redirect":
		return fmt.Errorf("has the %s xattr: its content is partly in a lower layer, which a layer tar cannot express (mount the overlay with metacopy=off,redirect_dir=off)", name)
	}
	return nil
}

// tarXattr says whether a layer tar carries the xattr.
func tarXattr(name string) bool {
	switch {
	case name == userWhiteout, name == "security.capability":
		return true
	case strings.HasPrefix(name, "trusted.overlay."), strings.HasPrefix(name, "user.overlay."), strings.HasPrefix(name, "security."):
		return false
	}
	return true
}

// listXattrs lists the xattr names of p; none on filesystems without xattrs.
func listXattrs(p string) ([]string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Llistxattr(p, buf)
		if errors.Is(err, unix.ERANGE) {
			buf = make([]byte, len(buf)*4)
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list xattrs of %s: %w", p, err)
		}
		var names []string
		for _, s := range strings.Split(string(buf[:n]), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		return names, nil
	}
}

// getXattr reads one xattr of p (not following it); "" when absent.
func getXattr(p, name string) (string, error) {
	buf := make([]byte, 128)
	for {
		n, err := unix.Lgetxattr(p, name, buf)
		switch {
		case errors.Is(err, unix.ERANGE):
			buf = make([]byte, len(buf)*4)
			continue
		case errors.Is(err, unix.ENODATA), errors.Is(err, unix.ENOTSUP):
			return "", nil
		case err != nil:
			return "", fmt.Errorf("read xattr %s of %s: %w", name, p, err)
		}
		return string(buf[:n]), nil
	}
}
