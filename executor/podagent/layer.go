package podagent

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// describe is the pod contract's description of a layer.
func describe(l v1.Layer) (Layer, error) {
	d, err := l.Digest()
	if err != nil {
		return Layer{}, fmt.Errorf("the diff's digest: %w", err)
	}
	id, err := l.DiffID()
	if err != nil {
		return Layer{}, fmt.Errorf("the diff's diffID: %w", err)
	}
	size, err := l.Size()
	if err != nil {
		return Layer{}, fmt.Errorf("the diff's size: %w", err)
	}
	mt, err := l.MediaType()
	if err != nil {
		return Layer{}, fmt.Errorf("the diff's media type: %w", err)
	}
	return Layer{Digest: d.String(), DiffID: id.String(), Size: size, MediaType: string(mt)}, nil
}
