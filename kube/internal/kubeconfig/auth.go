package kubeconfig

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/pipe-run/pipe/kube/internal/rest"
)

// setAuth sets rc's credentials from the user entry.
func setAuth(rc *rest.Config, cl Cluster, u User) error {
	if u.AuthProvider != nil {
		name, _ := u.AuthProvider["name"].(string)
		return fmt.Errorf("the user uses auth-provider %q, which pipe does not support (nor does kubectl since 1.26): use the provider's exec credential plugin instead (gke-gcloud-auth-plugin, kubelogin, ...)", name)
	}
	if u.Impersonate != "" {
		return errors.New("the user sets impersonation (as), which pipe does not support: use a context with the impersonated user's own credentials")
	}
	basic := u.Username != "" || u.Password != ""
	bearer := u.Token != "" || u.TokenFile != ""
	switch {
	case basic && bearer:
		return errors.New("the user sets both username/password and a token: keep one")
	case u.Exec != nil && (basic || bearer):
		return errors.New("the user sets both an exec plugin and a token or username/password: keep one")
	case u.Exec != nil:
		p, err := newExecPlugin(u.Exec, u.dir, cl)
		if err != nil {
			return err
		}
		rc.Authorize, rc.Unauthorized = p.authorize, p.forget
		rc.TLS.GetClientCertificate = p.clientCertificate(rc.TLS.Certificates)
		rc.TLS.Certificates = nil
	case u.TokenFile != "":
		tf := &tokenFile{path: resolve(u.dir, u.TokenFile), fallback: u.Token}
		if _, err := tf.token(); err != nil {
			return err
		}
		rc.Authorize = func(r *http.Request) error {
			t, err := tf.token()
			if err != nil {
				return err
			}
			r.Header.Set("Authorization", "Bearer "+t)
			return nil
		}
	case u.Token != "":
		rc.Authorize = func(r *http.Request) error {
			r.Header.Set("Authorization", "Bearer "+u.Token)
			return nil
		}
	case basic:
		rc.Authorize = func(r *http.Request) error {
			r.SetBasicAuth(u.Username, u.Password)
			return nil
		}
	}
	return nil
}

// tokenFile is a bearer token re-read every minute, as client-go does (a
// service account's token rotates).
type tokenFile struct {
	path     string
	fallback string

	mu   sync.Mutex
	last string
	read time.Time
}

func (f *tokenFile) token() (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last != "" && time.Since(f.read) < time.Minute {
		return f.last, nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil {
		if f.last != "" {
			return f.last, nil // keep the last good token, as client-go
		}
		if f.fallback != "" {
			return f.fallback, nil
		}
		return "", fmt.Errorf("tokenFile: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("tokenFile %s is empty", f.path)
	}
	f.last, f.read = t, time.Now()
	return t, nil
}

// clientCertificate picks the exec plugin's certificate, else static.
func (p *execPlugin) clientCertificate(static []tls.Certificate) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
		cred, err := p.credential(cri.Context())
		if err != nil {
			return nil, err
		}
		if cred.cert != nil {
			return cred.cert, nil
		}
		if len(static) > 0 {
			return &static[0], nil
		}
		return &tls.Certificate{}, nil
	}
}
