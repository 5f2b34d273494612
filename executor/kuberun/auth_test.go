package kuberun

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
)

type staticKeychain struct{ c authn.AuthConfig }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(k.c), nil
}

// The agents' Docker config carries the coordinator's credentials for the
// cache registry, readable by go-containerregistry's keychain.
func TestRegistryAuthForTheAgents(t *testing.T) {
	repo, _ := name.NewRepository("10.244.0.1:5000/team/cache")
	for _, c := range []struct {
		name string
		kc   authn.Keychain
		want string
	}{
		{"password", staticKeychain{authn.AuthConfig{Username: "ci", Password: "p:w"}}, `{"auths":{"10.244.0.1:5000":{"auth":"Y2k6cDp3"}}}`},
		{"token", staticKeychain{authn.AuthConfig{IdentityToken: "tok"}}, `{"auths":{"10.244.0.1:5000":{"identitytoken":"tok"}}}`},
		{"anonymous", authn.NewMultiKeychain(), `{"auths":{}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := RegistryAuth(repo, c.kc)
			if err != nil || string(b) != c.want {
				t.Fatalf("%s %v, want %s", b, err, c.want)
			}
			// What an agent's keychain reads from it: the same credentials.
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			t.Setenv("DOCKER_CONFIG", dir)
			a, err := authn.DefaultKeychain.Resolve(repo.Registry)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := a.Authorization()
			want, _ := c.kc.Resolve(repo.Registry)
			wc, _ := want.Authorization()
			if got.Username != wc.Username || got.Password != wc.Password || got.IdentityToken != wc.IdentityToken {
				t.Errorf("the agent reads %+v, want %+v", got, wc)
			}
		})
	}
}
