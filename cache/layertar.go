package cache

import (
	"bufio"
	"io"
)

// layerTar streams an overlay-form dir (an extracted layer or a step's
// output layer) as an uncompressed OCI layer tar: 0/0 char devices (and
// user.overlay.whiteout files) become .wh.NAME entries, dirs with the
// overlay.opaque=y xattr get a .wh..wh..opq entry, the overlay's own xattrs
// are left out. The stream is reproducible: the same dir gives the same
// bytes (names sorted, parents first, no user or group names, no atimes).
// Errors surface from Read; Close stops the writer.
func layerTar(dir string) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		bw := bufio.NewWriterSize(pw, 64<<10)
		err := writeLayerTar(bw, dir)
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
	}()
	return pr
}
