package gitlab

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
)

// keychain gives the job's registry credentials, as GitLab's Docker
// executor finds them: the response's registry credentials (the job token
// for GitLab's own registry), the job's DOCKER_AUTH_CONFIG, and
// CI_REGISTRY_USER/CI_REGISTRY_PASSWORD for CI_REGISTRY; then the runner
// host's Docker config.
type keychain struct {
	auths map[string]authn.AuthConfig // by registry host
}

func newKeychain(r *Response, e Env) *keychain {
	k := &keychain{auths: map[string]authn.AuthConfig{}}
	if reg, user := e.Var("CI_REGISTRY"), e.Var("CI_REGISTRY_USER"); reg != "" && user != "" {
		k.auths[hostOf(reg)] = authn.AuthConfig{Username: user, Password: e.Var("CI_REGISTRY_PASSWORD")}
	}
	k.addDockerConfig(e.Var("DOCKER_AUTH_CONFIG"))
	for _, c := range r.Credentials {
		if strings.EqualFold(c.Type, "registry") && c.URL != "" {
			k.auths[hostOf(c.URL)] = authn.AuthConfig{Username: c.Username, Password: c.Password}
		}
	}
	return k
}

// addDockerConfig reads a Docker config.json's auths.
func (k *keychain) addDockerConfig(s string) {
	if s == "" {
		return
	}
	var cfg struct {
		Auths map[string]struct {
			Auth     string `json:"auth"`
			Username string `json:"username"`
			Password string `json:"password"`
		} `json:"auths"`
	}
	if json.Unmarshal([]byte(s), &cfg) != nil {
		return
	}
	for host, a := range cfg.Auths {
		ac := authn.AuthConfig{Username: a.Username, Password: a.Password}
		if b, err := base64.StdEncoding.DecodeString(a.Auth); err == nil {
			if u, p, ok := strings.Cut(string(b), ":"); ok {
				ac.Username, ac.Password = u, p
			}
		}
		k.auths[hostOf(host)] = ac
	}
}

// hostOf is a registry URL's host (and port).
func hostOf(u string) string {
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	if i := strings.IndexByte(u, '/'); i >= 0 {
		u = u[:i]
	}
	return u
}

// Resolve implements authn.Keychain.
func (k *keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if ac, ok := k.auths[r.RegistryStr()]; ok {
		return authn.FromConfig(ac), nil
	}
	return authn.DefaultKeychain.Resolve(r)
}
