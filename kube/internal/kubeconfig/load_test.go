package kubeconfig

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o700); err != nil {
		t.Fatal(err)
	}
	return p
}

func isolate(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
}

func authHeader(t *testing.T, l *Loaded) string {
	t.Helper()
	r, _ := http.NewRequestWithContext(context.Background(), "GET", "https://x/", nil)
	if l.Rest.Authorize == nil {
		return ""
	}
	if err := l.Rest.Authorize(r); err != nil {
		t.Fatal(err)
	}
	return r.Header.Get("Authorization")
}

// KUBECONFIG's files merge: the first to set a name or the current
// context wins; relative paths resolve against their own file's directory.
func TestMergeAndRelativePaths(t *testing.T) {
	isolate(t)
	d1, d2 := t.TempDir(), t.TempDir()
	write(t, d2, "token", "from-file\n")
	f1 := write(t, d1, "a", `
current-context: one
contexts:
- name: one
  context: {cluster: c, user: u, namespace: ns1}
users:
- name: u
  user: {token: first}
`)
	f2 := write(t, d2, "b", `
current-context: two
contexts:
- name: one
  context: {cluster: other, user: other}
- name: two
  context: {cluster: c, user: v}
clusters:
- name: c
  cluster: {server: "https://10.0.0.1:6443", insecure-skip-tls-verify: true}
users:
- name: u
  user: {token: second}
- name: v
  user: {tokenFile: token}
`)
	t.Setenv("KUBECONFIG", f1+string(os.PathListSeparator)+filepath.Join(d1, "missing")+string(os.PathListSeparator)+f2)
	l, err := Load(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if l.Context != "one" || l.Namespace != "ns1" || l.Rest.Host != "https://10.0.0.1:6443" || authHeader(t, l) != "Bearer first" {
		t.Errorf("got context %q ns %q host %q auth %q", l.Context, l.Namespace, l.Rest.Host, authHeader(t, l))
	}
	l, err = Load(Options{Context: "two", Namespace: "over"})
	if err != nil {
		t.Fatal(err)
	}
	if l.Namespace != "over" || authHeader(t, l) != "Bearer from-file" {
		t.Errorf("got ns %q auth %q", l.Namespace, authHeader(t, l))
	}
	if !strings.Contains(l.Where(), f1) || !strings.Contains(l.Where(), `context "two"`) {
		t.Errorf("Where %q", l.Where())
	}
	var ce *ContextError
	if _, err := Load(Options{Context: "nope"}); !errors.As(err, &ce) || !strings.Contains(err.Error(), "get-contexts") {
		t.Errorf("unknown context: %v", err)
	}
}

func TestErrorsNameFileAndFix(t *testing.T) {
	isolate(t)
	d := t.TempDir()
	for _, tc := range []struct{ name, cfg, want string }{
		{"not yaml", "clusters: [", "is not a kubeconfig"},
		{"no server", "current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\nclusters: [{name: c, cluster: {}}]", "no server"},
		{"missing cluster", "current-context: a\ncontexts: [{name: a, context: {cluster: c}}]", `cluster "c"`},
		{"missing user", "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: 'https://h'}}]", `user "u"`},
		{"no current context", "clusters: [{name: c, cluster: {server: 'https://h'}}]", "use-context"},
		{"missing CA file", "current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\nclusters: [{name: c, cluster: {server: 'https://h', certificate-authority: ca.pem}}]", "ca.pem"},
		{"bad CA data", "current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\nclusters: [{name: c, cluster: {server: 'https://h', certificate-authority-data: '!!'}}]", "base64"},
		{"auth-provider", "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: 'https://h'}}]\nusers: [{name: u, user: {auth-provider: {name: gcp}}}]", "exec credential plugin"},
		{"exec v1alpha1", "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: 'https://h'}}]\nusers: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x}}}]", "v1beta1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, d, strings.ReplaceAll(tc.name, " ", "-"), tc.cfg)
			_, err := Load(Options{Path: p})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%q lacks %q or %q", err, p, tc.want)
			}
		})
	}
	if _, err := Load(Options{Path: filepath.Join(d, "absent")}); err == nil || !strings.Contains(err.Error(), "absent") {
		t.Errorf("missing explicit file: %v", err)
	}
	if _, err := Load(Options{}); !errors.Is(err, ErrNoConfig) {
		t.Errorf("nothing configured: %v", err)
	}
}

// An exec plugin runs with its args, env and KUBERNETES_EXEC_INFO (its
// relative command resolved against the kubeconfig's directory), and its
// token is cached until it expires.
func TestExecPlugin(t *testing.T) {
	isolate(t)
	d := t.TempDir()
	count := filepath.Join(d, "count")
	write(t, d, "plugin.sh", `#!/bin/sh
echo run >> "$COUNT"
case "$KUBERNETES_EXEC_INFO" in *'"apiVersion":"client.authentication.k8s.io/v1"'*) ;; *) echo "bad info $KUBERNETES_EXEC_INFO" >&2; exit 1;; esac
printf '{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","status":{"token":"tok-%s-%s","expirationTimestamp":"2999-01-01T00:00:00Z"}}' "$1" "$GREETING"
`)
	p := write(t, d, "config", `
current-context: a
contexts: [{name: a, context: {cluster: c, user: u}}]
clusters: [{name: c, cluster: {server: 'https://h'}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./plugin.sh
      args: [arg]
      env: [{name: GREETING, value: hi}, {name: COUNT, value: `+count+`}]
      provideClusterInfo: true
`)
	l, err := Load(Options{Path: p})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got := authHeader(t, l); got != "Bearer tok-arg-hi" {
			t.Fatalf("Authorization %q", got)
		}
	}
	b, _ := os.ReadFile(count)
	if n := strings.Count(string(b), "run"); n != 1 {
		t.Errorf("the plugin ran %d times, want 1 (cached)", n)
	}
	l.Rest.Unauthorized()
	authHeader(t, l)
	b, _ = os.ReadFile(count)
	if n := strings.Count(string(b), "run"); n != 2 {
		t.Errorf("after a 401 the plugin ran %d times in all, want 2", n)
	}
}

func TestExecPluginFailure(t *testing.T) {
	isolate(t)
	d := t.TempDir()
	write(t, d, "bad.sh", "#!/bin/sh\necho 'please log in' >&2\nexit 3\n")
	p := write(t, d, "config", `
current-context: a
contexts: [{name: a, context: {cluster: c, user: u}}]
clusters: [{name: c, cluster: {server: 'https://h'}}]
users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: ./bad.sh}}}]
`)
	l, err := Load(Options{Path: p})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := http.NewRequest("GET", "https://h/", nil)
	if err := l.Rest.Authorize(r); err == nil || !strings.Contains(err.Error(), "please log in") {
		t.Errorf("error %v", err)
	}
}

func TestInCluster(t *testing.T) {
	isolate(t)
	d := t.TempDir()
	write(t, d, "token", "sa-token")
	write(t, d, "namespace", "pipe-ns\n")
	write(t, d, "ca.crt", testCA(t))
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "443")
	l, ok, err := inCluster(d, "")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if !l.InCluster || l.Rest.Host != "https://10.96.0.1:443" || l.Namespace != "pipe-ns" || authHeader(t, l) != "Bearer sa-token" || l.Rest.TLS.RootCAs == nil {
		t.Errorf("got %+v", l)
	}
	if l.Where() != "in-cluster service account" {
		t.Errorf("Where %q", l.Where())
	}
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, ok, _ := inCluster(d, ""); ok {
		t.Error("in-cluster without KUBERNETES_SERVICE_HOST")
	}
}

// FuzzParse: any file content gives a config or an error, never a panic.
func FuzzParse(f *testing.F) {
	f.Add("current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: 'https://h', certificate-authority-data: 'eA=='}}]\nusers: [{name: u, user: {token: t}}]")
	f.Add("users: [{name: u, user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: x}}}]")
	f.Add("{}")
	f.Add("clusters: [")
	f.Fuzz(func(t *testing.T, s string) {
		fl, err := parse("/fuzz/config", []byte(s))
		if err != nil {
			return
		}
		m := &merged{clusters: map[string]Cluster{}, users: map[string]User{}, contexts: map[string]Context{}}
		m.add(fl)
		for name := range m.contexts {
			_, _ = fromKubeconfig(m, []string{"/fuzz/config"}, Options{Context: name})
		}
		_, _ = fromKubeconfig(m, []string{"/fuzz/config"}, Options{})
	})
}

// testCA is a self-signed certificate's PEM.
func testCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"}, NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
