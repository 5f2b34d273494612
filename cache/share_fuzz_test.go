package cache

import (
	"encoding/json"
	"errors"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// FuzzParseArtifact feeds parseArtifact what a hostile registry could
// answer. The property: it never panics, and what it accepts has a config
// matching its digest and layer digests that are safe as paths.
func FuzzParseArtifact(f *testing.F) {
	cfg := []byte(`{"schema":"pipe.result/v1","key":"k"}`)
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, ArtifactType: ResultArtifactType,
		Config: v1.Descriptor{MediaType: resultConfigType, Size: int64(len(cfg)), Digest: sha256Hash(cfg), Data: cfg},
		Layers: []v1.Descriptor{{MediaType: types.OCILayerZStd, Size: 10, Digest: sha256Hash([]byte("layer"))}}}
	good, _ := json.Marshal(m)
	f.Add(good)
	f.Add([]byte(`{"schemaVersion":2,"artifactType":"application/vnd.pipe.result.v1","config":{"size":2,"digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","data":"e30="},"layers":[{"digest":"sha256:../../x"}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, cfg, err := parseArtifact(raw, "s-x", ResultArtifactType)
		if err != nil {
			var de *DigestError
			if !errors.Is(err, ErrNotFound) && !errors.As(err, &de) {
				t.Fatalf("error of an unexpected kind: %v", err)
			}
			return
		}
		if sha256Hash(cfg) != m.Config.Digest {
			t.Fatal("accepted a config that does not match its digest")
		}
		for _, l := range m.Layers {
			if checkDigest(l.Digest) != nil {
				t.Fatalf("accepted layer digest %q", l.Digest)
			}
		}
	})
}
