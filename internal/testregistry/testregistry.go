// Package testregistry runs the real CNCF distribution server (Debian's
// docker-registry) on loopback for tests: optionally with TLS from a
// certificate it makes, htpasswd users (bcrypt at its minimum cost, so a
// request costs microseconds rather than 100 ms), and a reverse proxy in
// front that can make users read only and inject failures (5xx, 429,
// stalls). It is test support: the product packages never import it.
package testregistry

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Binary is Debian's distribution server.
const Binary = "/usr/bin/docker-registry"

// Options choose what the registry is started with.
type Options struct {
	TLS      bool              // serve HTTPS with a certificate for 127.0.0.1 (see Registry.CAFile)
	Users    map[string]string // htpasswd users and passwords; none: no auth
	ReadOnly []string          // users the proxy refuses writes to (401), as a read-only token would
	Proxy    bool              // put the reverse proxy in front (implied by ReadOnly)
	// Token serves the Users through distribution's token auth (the Bearer
	// flow of GHCR, Docker Hub, GitLab, ECR) instead of htpasswd: a token
	// server of the test's own grants ReadOnly users pull and the others pull
	// and push. Needs TLS; ReadOnly then needs no proxy.
	Token bool
}

// Registry is a running docker-registry.
type Registry struct {
	Host    string // host:port clients use (the proxy's when there is one)
	Backend string // the registry's own host:port
	CAFile  string // PEM of the CA that signed the certificate (TLS only)
	Pool    *x509.CertPool
	Data    string // the registry's storage root

	t    testing.TB
	cmd  *exec.Cmd
	logs *bytes.Buffer

	mu    sync.Mutex
	fault func(w http.ResponseWriter, r *http.Request) bool
}

// Start runs docker-registry for the test, stopped at its end. Without the
// binary the test fails when PIPE_TEST_ROOT=1 and is skipped otherwise.
func Start(t testing.TB, o Options) *Registry {
	t.Helper()
	if _, err := os.Stat(Binary); err != nil {
		if os.Getenv("PIPE_TEST_ROOT") == "1" {
			t.Fatalf("%s missing: apt-get install docker-registry (scripts/install-deps)", Binary)
		}
		t.Skipf("%s missing: apt-get install docker-registry to run this test", Binary)
	}
	dir := t.TempDir()
	reg := &Registry{t: t, Data: filepath.Join(dir, "data"), Backend: freeAddr(t), logs: &bytes.Buffer{}}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", reg.Data, reg.Backend)
	var tlsCert tls.Certificate
	if o.TLS {
		certFile, keyFile := reg.makeCert(dir, &tlsCert)
		cfg += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", certFile, keyFile)
	}
	var proxyL net.Listener
	var token http.Handler
	if o.Proxy || o.Token || len(o.ReadOnly) > 0 {
		var err error
		if proxyL, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	switch {
	case o.Token:
		if !o.TLS {
			t.Fatal("testregistry: Token needs TLS")
		}
		// The token server answers on the proxy, so that the realm is the
		// registry's own host: clients refuse realms on other private hosts.
		token = tokenHandler(o, tlsCert)
		realm := "https://" + proxyL.Addr().String() + "/token"
		cfg += fmt.Sprintf("auth:\n  token:\n    realm: %s\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n", realm, tokenService, tokenIssuer, reg.CAFile)
	case len(o.Users) > 0:
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: pipe-test\n    path: %s\n", writeHtpasswd(t, dir, o.Users))
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	reg.start(cfgPath)
	reg.Host = reg.Backend
	if proxyL != nil {
		reg.Host = reg.startProxy(proxyL, o, tlsCert, token)
	}
	return reg
}

// freeAddr is a free loopback port.
func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start starts the server and waits until it answers.
func (reg *Registry) start(cfgPath string) {
	t := reg.t
	reg.cmd = exec.Command(Binary, "serve", cfgPath)
	reg.cmd.Stdout, reg.cmd.Stderr = reg.logs, reg.logs
	if err := reg.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Kill)
	client := reg.Client()
	scheme := "http"
	if reg.Pool != nil {
		scheme = "https"
	}
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, err := client.Get(scheme + "://" + reg.Backend + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("docker-registry did not start on %s: %v\n%s", reg.Backend, err, reg.logs.String())
		}
	}
}

// Kill stops the registry (a registry dying mid-run); the proxy, if any,
// stays up and answers 502.
func (reg *Registry) Kill() {
	if reg.cmd != nil && reg.cmd.Process != nil {
		reg.cmd.Process.Kill()
		reg.cmd.Wait()
		reg.cmd.Process = nil
	}
}

// Client is an http.Client that trusts the registry's certificate.
func (reg *Registry) Client() *http.Client {
	return &http.Client{Transport: reg.Transport(), Timeout: 10 * time.Second}
}

// Transport is an http.Transport that trusts the registry's certificate.
func (reg *Registry) Transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if reg.Pool != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: reg.Pool}
	}
	return tr
}

// SetFault makes the proxy call f before each request; f answers the
// request itself by returning true. nil clears it.
func (reg *Registry) SetFault(f func(w http.ResponseWriter, r *http.Request) bool) {
	reg.mu.Lock()
	reg.fault = f
	reg.mu.Unlock()
}

// DockerConfig writes a Docker config.json giving user's credentials for
// the registry and returns its directory, for DOCKER_CONFIG.
func (reg *Registry) DockerConfig(user, password string) string {
	dir := reg.t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	b, _ := json.Marshal(map[string]any{"auths": map[string]any{reg.Host: map[string]string{"auth": auth}}})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		reg.t.Fatal(err)
	}
	return dir
}

// writeHtpasswd writes users with bcrypt at its minimum cost.
func writeHtpasswd(t testing.TB, dir string, users map[string]string) string {
	var b bytes.Buffer
	for u, p := range users {
		h, err := bcrypt.GenerateFromPassword([]byte(p), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s:%s\n", u, h)
	}
	path := filepath.Join(dir, "htpasswd")
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// makeCert makes a CA and a certificate for 127.0.0.1 signed by it.
func (reg *Registry) makeCert(dir string, out *tls.Certificate) (certFile, keyFile string) {
	t := reg.t
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pipe test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	certFile, keyFile, reg.CAFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")
	for p, b := range map[string][]byte{certFile: certPEM, keyFile: keyPEM, reg.CAFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	reg.Pool = x509.NewCertPool()
	reg.Pool.AddCert(caCert)
	if *out, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// startProxy puts a reverse proxy in front of the registry and returns its
// address: it refuses writes by read-only users and applies the fault hook.
func (reg *Registry) startProxy(l net.Listener, o Options, cert tls.Certificate, token http.Handler) string {
	t := reg.t
	scheme := "http"
	if o.TLS {
		scheme = "https"
	}
	target, _ := url.Parse(scheme + "://" + reg.Backend)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = reg.Transport()
	rp.ErrorLog = log.New(io.Discard, "", 0)
	readOnly := map[string]bool{}
	for _, u := range o.ReadOnly {
		readOnly[u] = true
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reg.mu.Lock()
		f := reg.fault
		reg.mu.Unlock()
		if f != nil && f(w, r) {
			return
		}
		if token != nil && r.URL.Path == "/token" {
			token.ServeHTTP(w, r)
			return
		}
		if u, _, ok := r.BasicAuth(); token == nil && ok && readOnly[u] && r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("WWW-Authenticate", `Basic realm="pipe-test"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"errors":[{"code":"DENIED","message":"read-only credentials"}]}`)
			return
		}
		rp.ServeHTTP(w, r)
	})
	srv := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	if o.TLS {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		go srv.ServeTLS(l, "", "")
	} else {
		go srv.Serve(l)
	}
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}
