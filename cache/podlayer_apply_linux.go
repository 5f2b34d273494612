//go:build linux

package cache

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// ApplyLayer applies the uncompressed OCI layer tar r onto dir, an existing
// tree (the lower layers applied already), the way a container runtime
// flattens an image: .wh.NAME removes NAME (a whole dir if it is one),
// .wh..wh..opq removes what its dir held before this layer, and every other
// entry replaces what had its name (a dir entry onto a dir only updates the
// dir's metadata). Hardlinks may point at any non-dir of the tree, earlier
// layers included. Running as root, entries get their owners and setuid
// bits; otherwise they belong to the caller.
//
// It has the extractor's safety: nothing outside dir is ever written or
// removed (names that climb out are refused, no symlink is followed, a
// symlink in the way of an entry is refused), and device nodes are refused.
// Every error is a *LayerError naming the entry. A failed apply leaves the
// tree part applied: callers apply onto a tree they discard on error.
func ApplyLayer(ctx context.Context, r io.Reader, dir string) error {
	return applyLayer(ctx, r, dir, extractOptions{Root: unix.Geteuid() == 0})
}

// applyLayer is ApplyLayer with explicit options (tests choose Root and the
// guards; AllowDevices is always off).
func applyLayer(ctx context.Context, r io.Reader, dir string, opts extractOptions) error {
	opts.AllowDevices = false
	opts = opts.withDefaults()
	x, err := newExtractor(dir, opts)
	if err != nil {
		return &LayerError{Layer: opts.Layer, Err: fmt.Errorf("open the tree: %w", err)}
	}
	defer x.close()
	a := &applier{x: x}
	x.handle = a.entry
	return x.run(ctx, r)
}

// applier gives the extractor's entries their meaning on a flat tree.
type applier struct{ x *extractor }

// entry handles whiteouts and hardlinks itself; the extractor does the rest.
func (a *applier) entry(ctx context.Context, hdr *tar.Header, body *chunkReader) error {
	x := a.x
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	isLink := hdr.Typeflag == tar.TypeLink
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	dir, base := splitName(name)
	if !isLink && !strings.HasPrefix(base, whiteoutPrefix) {
		return x.entry(ctx, hdr, body)
	}
	if err := x.guard(hdr); err != nil {
		return err
	}
	if !isLink {
		return a.whiteout(dir, base)
	}
	if name == "." {
		return unsafeEntry("replaces the layer root with a non-directory")
	}
	pfd, err := x.parent(dir)
	if err != nil {
		return err
	}
	return a.hardlink(at{pfd: pfd, name: name, base: base}, hdr)
}

// whiteout removes what an OCI whiteout names; aufs metadata is skipped.
// What this layer itself wrote stays: a whiteout only hides lower layers.
func (a *applier) whiteout(dir, base string) error {
	if base != opaqueMarker && strings.HasPrefix(base, whiteoutMeta) {
		return nil
	}
	target := strings.TrimPrefix(base, whiteoutPrefix)
	if base != opaqueMarker && (target == "" || target == "." || target == "..") {
		return unsafeEntry("whiteout names no file")
	}
	dfd, err := openBeneath(a.x.root, dir, unix.O_RDONLY|unix.O_DIRECTORY)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil // nothing to hide
	case err != nil:
		return a.x.lookupError(dir, "whiteout", err)
	}
	defer unix.Close(dfd)
	a.x.dropParent() // what is removed may be the cached parent or hold it
	if base == opaqueMarker {
		return a.clear(dfd, dir)
	}
	return a.remove(dfd, dir, target)
}

// clear removes every entry of the open dir dfd that this layer did not write.
func (a *applier) clear(dfd int, dir string) error {
	names, err := readNames(dfd)
	if err != nil {
		return fmt.Errorf("opaque dir %q: list it: %w", dir, err)
	}
	for _, n := range names {
		if err := a.remove(dfd, dir, n); err != nil {
			return err
		}
	}
	return nil
}

// remove deletes dir/base (a whole tree if a dir) unless this layer wrote it.
func (a *applier) remove(dfd int, dir, base string) error {
	name := base
	if dir != "." {
		name = dir + "/" + base
	}
	if a.written(name) {
		return nil
	}
	err := unix.Unlinkat(dfd, base, 0)
	if errors.Is(err, unix.EISDIR) {
		err = os.RemoveAll(procFd(dfd) + "/" + base)
	}
	if err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("whiteout: remove %q: %w", name, err)
	}
	return nil
}

// written says whether this layer created the entry name.
func (a *applier) written(name string) bool {
	if _, ok := a.x.placed[name]; ok {
		return true
	}
	_, ok := a.x.dirs[name]
	return ok
}

// hardlink links to a non-dir of the tree, found without following any
// symlink; a target that is a symlink is linked itself, never followed.
func (a *applier) hardlink(e at, hdr *tar.Header) error {
	x := a.x
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
	}
	if target == e.name {
		return nil // a link to itself: there already if its target is
	}
	tdir, tbase := splitName(target)
	tfd, err := openBeneath(x.root, tdir, unix.O_PATH|unix.O_DIRECTORY)
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("hardlink target %q is not in the tree", hdr.Linkname)
	}
	if err != nil {
		return x.lookupError(tdir, fmt.Sprintf("hardlink target %q", hdr.Linkname), err)
	}
	defer unix.Close(tfd)
	var st unix.Stat_t
	if target == "." || unix.Fstatat(tfd, tbase, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return fmt.Errorf("hardlink target %q is not in the tree", hdr.Linkname)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return unsafeEntry("hardlink target %q is a directory", hdr.Linkname)
	}
	err = x.createOrReplace(e, func() error { return unix.Linkat(tfd, tbase, e.pfd, e.base, 0) })
	if err != nil {
		return fmt.Errorf("hardlink to %q: %w", hdr.Linkname, err)
	}
	x.placed[e.name] = struct{}{}
	x.stats.Links++
	return nil
}
