package cache

import "io"

// LayerTar streams an overlay-form dir (a result or layer dir) as an OCI layer
// tar (uncompressed, whiteouts as .wh. files), e.g. to export or push it.
// Errors surface from Read; Close stops the stream.
func (s *Store) LayerTar(dir string) io.ReadCloser {
	return layerTar(dir)
}
