package kuberun

import (
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

// RegistryAuth is the Docker config.json that gives a pod's agents the
// credentials kc holds for repo's registry (kube.Config.RegistryConfig):
// with them they fetch the workspace and push the diff. They are whatever
// the coordinator itself has for that registry, so give pipe credentials
// scoped to the cache repository. An anonymous keychain gives no auths.
func RegistryAuth(repo name.Repository, kc authn.Keychain) ([]byte, error) {
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	a, err := kc.Resolve(repo.Registry)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", repo.RegistryStr(), err)
	}
	c, err := a.Authorization()
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", repo.RegistryStr(), err)
	}
	entry := map[string]string{}
	switch {
	case c.Auth != "":
		entry["auth"] = c.Auth
	case c.Username != "" || c.Password != "":
		entry["auth"] = base64.StdEncoding.EncodeToString([]byte(c.Username + ":" + c.Password))
	}
	if c.IdentityToken != "" {
		entry["identitytoken"] = c.IdentityToken
	}
	if c.RegistryToken != "" {
		entry["registrytoken"] = c.RegistryToken
	}
	auths := map[string]any{}
	if len(entry) > 0 {
		auths[repo.RegistryStr()] = entry
	}
	return json.Marshal(map[string]any{"auths": auths})
}
