package testcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pipe-run/pipe/internal/testimage"
)

// DockerConfig is a Docker config.json granting the registry user pull and
// push on the cluster's registry.
func (c *Cluster) DockerConfig() []byte {
	auth := base64.StdEncoding.EncodeToString([]byte(c.User + ":" + c.Password))
	b, _ := json.Marshal(map[string]any{"auths": map[string]any{c.Registry: map[string]string{"auth": auth}}})
	return b
}

// Auth is the registry user's credentials for go-containerregistry.
func (c *Cluster) Auth() authn.Authenticator {
	return &authn.Basic{Username: c.User, Password: c.Password}
}

// Transport trusts the registry's CA (and only it).
func (c *Cluster) Transport() *http.Transport {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.CAPEM)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr
}

// Repo is a repository of the test's own in the registry ending in name:
// registry/t-<test>-<random>/name.
func (c *Cluster) Repo(t testing.TB, name string) string {
	return c.Registry + "/" + uniqueName(t, "t", 80) + "/" + name
}

// PushImage pushes img to a repository of the test's own ending in repo
// and returns the pullable reference by digest (host:port/path@sha256:...).
func (c *Cluster) PushImage(t testing.TB, img v1.Image, repo string) string {
	t.Helper()
	ref, err := name.NewTag(c.Repo(t, repo) + ":test")
	if err != nil {
		t.Fatalf("testcluster: repository %q: %v", repo, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := remote.Write(ref, img, remote.WithAuth(c.Auth()), remote.WithTransport(c.Transport()), remote.WithContext(ctx)); err != nil {
		t.Fatalf("testcluster: push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().Digest(d.String()).String()
}

// Busybox pushes the busybox image of internal/testimage (with extra layers
// on top) and returns its reference by digest.
func (c *Cluster) Busybox(t testing.TB, extra ...v1.Layer) string {
	t.Helper()
	img, err := testimage.Busybox(extra...)
	if err != nil {
		t.Fatal(err)
	}
	return c.PushImage(t, img, "busybox")
}
