package podagent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// CAEnv names the PEM file of the CA the registry's certificate is checked
// against (the pod mounts it from the run's Secret).
const CAEnv = "SSL_CERT_FILE"

// remoteOptions are the go-containerregistry options of every registry
// call: credentials from the Docker config in DOCKER_CONFIG (the default
// keychain), the CA of SSL_CERT_FILE added to the system's, ctx. Unless the
// spec says insecure, plain http is refused: go-containerregistry falls back
// to it for private and loopback addresses, which would send the
// registry's credentials in clear to whoever answers there.
func remoteOptions(ctx context.Context, insecure bool) ([]remote.Option, error) {
	tr, err := transport()
	if err != nil {
		return nil, err
	}
	var rt http.RoundTripper = tr
	if !insecure {
		rt = httpsOnly{tr}
	}
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithTransport(rt),
		remote.WithUserAgent("pipe-pod-agent"),
	}, nil
}

// transport trusts the system's CAs and the one of SSL_CERT_FILE, if set.
func transport() (http.RoundTripper, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	file := os.Getenv(CAEnv)
	if file == "" {
		return tr, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("the registry's CA (%s): %w", CAEnv, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("the registry's CA (%s=%s) holds no PEM certificate", CAEnv, file)
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return tr, nil
}

// httpsOnly refuses requests that are not https.
type httpsOnly struct{ rt http.RoundTripper }

func (h httpsOnly) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" {
		return nil, fmt.Errorf("refusing plain http to %s: the registry must speak https unless the agent spec says \"insecure\": true", req.URL.Host)
	}
	return h.rt.RoundTrip(req)
}
