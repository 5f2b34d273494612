package kube

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// apiServer answers GET /api/v1/namespaces/<ns> for the namespaces given,
// 404 for others: just what New asks.
func apiServer(t *testing.T, namespaces ...string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		name := strings.TrimPrefix(r.URL.Path, "/api/v1/namespaces/")
		for _, ns := range namespaces {
			if name == ns {
				fmt.Fprintf(w, `{"kind":"Namespace","apiVersion":"v1","metadata":{"name":%q}}`, ns)
				return
			}
		}
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"namespaces %q not found"}`, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// writeKubeconfig writes a kubeconfig with contexts "a" (namespace ci) and
// "b" (no namespace), both at server.
func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: %q}
users:
- name: u
  user: {token: not-a-real-token}
contexts:
- name: a
  context: {cluster: c, user: u, namespace: ci}
- name: b
  context: {cluster: c, user: u}
current-context: a
`, server)
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// isolateEnv keeps the test from reading the machine's kubeconfig or
// believing it runs in a pod.
func isolateEnv(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
}

func goodConfig() Config {
	return Config{RunID: "run-1", AgentImage: "reg/agent:1"}
}

func TestNewByKubectlRules(t *testing.T) {
	isolateEnv(t)
	srv := apiServer(t, "ci", "default", "other")
	path := writeKubeconfig(t, srv.URL)
	for _, tc := range []struct {
		name          string
		env, file     string
		ctx, ns, want string
	}{
		{name: "KUBECONFIG, current context's namespace", env: path, want: "ci"},
		{name: "explicit file", file: path, want: "ci"},
		{name: "context without namespace", file: path, ctx: "b", want: "default"},
		{name: "namespace override", file: path, ns: "other", want: "other"},
		{name: "KUBECONFIG list with a missing file", env: filepath.Join(t.TempDir(), "missing") + string(os.PathListSeparator) + path, want: "ci"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tc.env)
			c := goodConfig()
			c.Kubeconfig, c.Context, c.Namespace = tc.file, tc.ctx, tc.ns
			b, err := New(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			if b.Namespace() != tc.want {
				t.Errorf("namespace %q, want %q", b.Namespace(), tc.want)
			}
		})
	}
	t.Run("home kubeconfig", func(t *testing.T) {
		home := t.TempDir()
		t.Setenv("HOME", home)
		if err := os.MkdirAll(filepath.Join(home, ".kube"), 0o700); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(path)
		if err := os.WriteFile(filepath.Join(home, ".kube", "config"), raw, 0o600); err != nil {
			t.Fatal(err)
		}
		// client-go reads the home dir once per process (RecommendedHomeFile),
		// so only check that it is not an error when HOME holds one.
		if _, err := New(context.Background(), goodConfig()); err != nil && !strings.Contains(err.Error(), "no cluster configured") {
			t.Fatal(err)
		}
	})
}

func TestNewErrorsSayWhereAndWhat(t *testing.T) {
	isolateEnv(t)
	srv := apiServer(t, "ci")
	path := writeKubeconfig(t, srv.URL)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	deadPath := writeKubeconfig(t, dead)
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want []string
	}{
		{"missing explicit file", func(c *Config) { c.Kubeconfig = "/nonexistent/kubeconfig" }, []string{"/nonexistent/kubeconfig"}},
		{"no kubeconfig anywhere", func(c *Config) {}, []string{"no cluster configured", "KUBECONFIG"}},
		{"unknown context", func(c *Config) { c.Kubeconfig, c.Context = path, "nope" }, []string{path, `context "nope"`, "get-contexts"}},
		{"missing namespace", func(c *Config) { c.Kubeconfig, c.Namespace = path, "gone" }, []string{path, `context "a"`, `namespace "gone" does not exist`, "kubectl create namespace gone"}},
		{"API server down", func(c *Config) { c.Kubeconfig = deadPath }, []string{deadPath, `context "a"`, "does not answer", "cluster is up"}},
		{"bad run ID", func(c *Config) { c.RunID = "a/b" }, []string{"run ID", "label value"}},
		{"empty run ID", func(c *Config) { c.RunID = "" }, []string{"run ID"}},
		{"no agent image", func(c *Config) { c.AgentImage = "" }, []string{"agent image"}},
		{"registry config not JSON", func(c *Config) { c.RegistryConfig = []byte("user:pass") }, []string{"not JSON"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := goodConfig()
			tc.edit(&c)
			_, err := New(context.Background(), c)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "user:pass") || strings.Contains(err.Error(), "not-a-real-token") {
				t.Errorf("the error shows a credential: %v", err)
			}
		})
	}
}

func TestPruneAndCloseWithoutBackend(t *testing.T) {
	var b *Backend
	if err := b.Close(context.Background()); err != nil {
		t.Errorf("Close of a nil Backend: %v", err)
	}
	isolateEnv(t)
	if _, err := Prune(context.Background(), Config{Kubeconfig: "/nonexistent"}, func(string) bool { return false }); err == nil {
		t.Error("Prune without a cluster succeeded")
	}
}
