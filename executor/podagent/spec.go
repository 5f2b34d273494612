package podagent

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// SpecEnv is the environment variable that carries an agent's Spec (JSON).
const SpecEnv = "PIPE_AGENT_SPEC"

// Spec is what the coordinator tells the agents of one pod: the cache
// repository, the workspace layers, lowest first, and the content of each
// cache volume the step mounts (Volumes[i] is applied onto Paths.Volume(i)).
type Spec struct {
	Repo     string  `json:"repo"`              // host[:port]/path of the cache repository
	Layers   []Layer `json:"layers"`            // the workspace, lowest first
	Volumes  []Layer `json:"volumes,omitempty"` // one layer per cache volume
	Insecure bool    `json:"insecure"`          // plain http to the registry
}

// Layer is one layer blob of the repository, as the pod contract names it.
type Layer struct {
	Digest    string `json:"digest"`    // sha256 of the compressed blob
	DiffID    string `json:"diffID"`    // sha256 of the uncompressed tar
	Size      int64  `json:"size"`      // bytes of the compressed blob
	MediaType string `json:"mediaType"` // informative: the codec is told by the bytes
}

// ParseSpec decodes and checks the JSON of PIPE_AGENT_SPEC.
func ParseSpec(s string) (Spec, error) {
	if strings.TrimSpace(s) == "" {
		return Spec{}, fmt.Errorf("%s is empty: the pod must give the agent its spec", SpecEnv)
	}
	var sp Spec
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sp); err != nil {
		return Spec{}, fmt.Errorf("%s: %w", SpecEnv, err)
	}
	if err := sp.check(); err != nil {
		return Spec{}, fmt.Errorf("%s: %w", SpecEnv, err)
	}
	return sp, nil
}

// check validates the repository and every layer's digests.
func (sp Spec) check() error {
	if _, err := sp.repository(); err != nil {
		return err
	}
	for i, l := range sp.Layers {
		if err := l.check(); err != nil {
			return fmt.Errorf("layer %d: %w", i+1, err)
		}
	}
	for i, l := range sp.Volumes {
		if err := l.check(); err != nil {
			return fmt.Errorf("cache volume %d: %w", i, err)
		}
	}
	return nil
}

// repository is the parsed Repo.
func (sp Spec) repository() (name.Repository, error) {
	if sp.Repo == "" {
		return name.Repository{}, errors.New(`"repo" is missing`)
	}
	var opts []name.Option
	if sp.Insecure {
		opts = append(opts, name.Insecure)
	}
	r, err := name.NewRepository(sp.Repo, append(opts, name.StrictValidation)...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("repo %q: %w", sp.Repo, err)
	}
	return r, nil
}

func (l Layer) check() error {
	if _, err := parseSHA256(l.Digest); err != nil {
		return fmt.Errorf("digest: %w", err)
	}
	if _, err := parseSHA256(l.DiffID); err != nil {
		return fmt.Errorf("diffID: %w", err)
	}
	if l.Size < 0 {
		return fmt.Errorf("size %d is negative", l.Size)
	}
	return nil
}

// parseSHA256 parses a "sha256:<64 hex>" digest; other algorithms are refused.
func parseSHA256(s string) (v1.Hash, error) {
	h, err := v1.NewHash(s)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("%q is not a digest: %w", s, err)
	}
	if h.Algorithm != "sha256" {
		return v1.Hash{}, fmt.Errorf("%q: only sha256 digests are accepted", s)
	}
	return h, nil
}
