package kubeconfig

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
)

// tlsConfig is the TLS of a cluster and a user's client certificate.
func tlsConfig(cl Cluster, u User) (*tls.Config, error) {
	ca, err := dataOrFile(cl.CertificateAuthorityData, cl.CertificateAuthority, cl.dir, "certificate-authority")
	if err != nil {
		return nil, err
	}
	if len(ca) > 0 && cl.InsecureSkipTLSVerify {
		return nil, errors.New("the cluster sets both a certificate authority and insecure-skip-tls-verify: keep one")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cl.TLSServerName, InsecureSkipVerify: cl.InsecureSkipTLSVerify}
	if len(ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("certificate-authority holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	cert, err := dataOrFile(u.ClientCertificateData, u.ClientCertificate, u.dir, "client-certificate")
	if err != nil {
		return nil, err
	}
	key, err := dataOrFile(u.ClientKeyData, u.ClientKey, u.dir, "client-key")
	if err != nil {
		return nil, err
	}
	switch {
	case len(cert) > 0 && len(key) > 0:
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("the user's client certificate and key: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	case len(cert) > 0 || len(key) > 0:
		return nil, errors.New("the user has a client certificate without a key, or a key without a certificate: set both")
	}
	return tc, nil
}

// proxyFunc is the proxy of a cluster's proxy-url (http, https or socks5).
func proxyFunc(raw string) (func(*http.Request) (*url.URL, error), error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("proxy-url %q: %w", raw, err)
	}
	switch u.Scheme {
	case "http", "https", "socks5":
	default:
		return nil, fmt.Errorf("proxy-url %q: the scheme must be http, https or socks5", raw)
	}
	return http.ProxyURL(u), nil
}
