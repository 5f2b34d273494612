package cache

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
)

// Defaults of extractOptions' guards against absurd layers.
const (
	defaultMaxSize    = 64 << 30 // 64 GiB uncompressed, per layer and per entry
	defaultMaxEntries = 10_000_000
)

// Names the OCI image spec gives a meaning in layer tars.
const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."     // aufs metadata (e.g. .wh..wh.plnk): skipped
	opaqueMarker   = ".wh..wh..opq" // the dir holding it hides the lower layers' content
	opaqueValue    = "y"            // value of the overlay.opaque xattr
	trustedOpaque  = "trusted.overlay.opaque"
	userOpaque     = "user.overlay.opaque"
	userWhiteout   = "user.overlay.whiteout" // xwhiteout: the non-root form of a whiteout
)

// errUnsafeLayer ends the message of every entry refused because honouring it
// could write outside the layer or hand out privileges.
var errUnsafeLayer = errors.New("the image is malformed or malicious — do not use it")

// extractOptions says how extractLayer treats one layer.
type extractOptions struct {
	Image, Layer string // for error messages: the image reference and the layer digest
	AllowDevices bool   // keep char/block device nodes (needs root); otherwise they are refused
	MaxSize      int64  // bound on the uncompressed bytes of the layer and of each entry; 0: 64 GiB
	MaxEntries   int    // bound on the number of entries; 0: 10 million
	// Root: running as root. Entries are chowned to their uid/gid, setuid and
	// setgid bits and trusted.* / security.capability xattrs are kept, and
	// opaque dirs use trusted.overlay.opaque. Otherwise ownership is left to the
	// extracting user, setuid/setgid bits are dropped, and the overlay metadata
	// uses the user.overlay.* xattrs (mount the overlay with "userxattr").
	Root bool
	// UserNS (with Root): root of a user namespace (rootless pipe with
	// subordinate ids). Owners (mapped into the ranges), setuid/setgid bits
	// and file capabilities are kept as with Root, but trusted.* xattrs are
	// not (only the host's root may set them) and opaque dirs use
	// user.overlay.opaque (the overlay is mounted with "userxattr").
	UserNS bool
}

// withDefaults fills the zero guards.
func (o extractOptions) withDefaults() extractOptions {
	if o.MaxSize <= 0 {
		o.MaxSize = defaultMaxSize
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = defaultMaxEntries
	}
	return o
}

// opaqueXattr is the xattr that marks an opaque dir for the overlay mount.
func (o extractOptions) opaqueXattr() string {
	if o.Root && !o.UserNS {
		return trustedOpaque
	}
	return userOpaque
}

// extractStats counts what extractLayer wrote.
type extractStats struct {
	Files, Dirs, Links int   // regular files; dirs; symlinks and hardlinks
	Bytes              int64 // bytes of regular file content
}

// LayerError is a layer that could not be extracted: a malformed or malicious
// entry, a tar stream that cannot be read, or a failing write. Entry is empty
// when the error is not about one entry.
type LayerError struct {
	Image string // the image reference, if known
	Layer string // the layer digest, e.g. sha256:ab12...
	Entry string // the entry's name as written in the tar
	Err   error
}

// Error reads `image X: layer sha256:ab12...: entry "a/b": what is wrong`.
func (e *LayerError) Error() string {
	var b strings.Builder
	if e.Image != "" {
		fmt.Fprintf(&b, "image %s: ", e.Image)
	}
	if e.Layer != "" {
		fmt.Fprintf(&b, "layer %s: ", shortDigest(e.Layer))
	}
	if e.Entry != "" {
		fmt.Fprintf(&b, "entry %q: ", e.Entry)
	}
	if e.Err == nil {
		b.WriteString("unknown error")
	} else {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *LayerError) Unwrap() error { return e.Err }

// shortDigest abbreviates "sha256:<64 hex>" to its first 12 hex digits.
func shortDigest(d string) string {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) <= 12 {
		return d
	}
	return algo + ":" + hex[:12] + "..."
}

// unsafeEntry is the error for an entry refused for safety.
func unsafeEntry(format string, args ...any) error {
	return fmt.Errorf("%s; %w", fmt.Sprintf(format, args...), errUnsafeLayer)
}

// cleanName turns a tar entry name (or a hardlink target) into a clean path
// relative to the layer root: "." for the root itself. Absolute names are
// taken relative to the root, as Docker does; names that climb out of the
// root with ".." are refused.
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", unsafeEntry("name contains a NUL byte")
	}
	p := path.Clean(strings.TrimLeft(name, "/"))
	if p == ".." || strings.HasPrefix(p, "../") {
		return "", unsafeEntry("path escapes the layer root")
	}
	if p == "" {
		p = "."
	}
	return p, nil
}

// splitName splits a clean name into its parent dir ("." for the root) and base.
func splitName(p string) (dir, base string) {
	i := strings.LastIndexByte(p, '/')
	if i < 0 {
		return ".", p
	}
	return p[:i], p[i+1:]
}

// copyBufSize is the size of the buffers file contents are copied through.
const copyBufSize = 256 << 10

// copyBufs recycles copy buffers between extractions. It holds no state
// beyond scratch memory, so sharing it between goroutines is safe.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}
