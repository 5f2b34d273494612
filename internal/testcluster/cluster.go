package testcluster

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The cluster's fixed facts (scripts/k8s/lib.sh).
const (
	Node       = "localhost"     // the one node's name
	Bridge     = "pipek0"        // the pods' bridge
	BridgeAddr = "10.244.0.1"    // the host on the bridge: pods reach the registry here
	PodCIDR    = "10.244.0.0/24" // pod addresses
)

// Cluster is a running test cluster, as its env file describes it.
type Cluster struct {
	Dir        string // the cluster's state dir (PIPE_K8S_DIR)
	Kubeconfig string // admin kubeconfig (system:masters)
	Registry   string // host:port of the TLS registry, reachable from the host and from pods
	CAFile     string // PEM file of the CA that signed the registry's certificate
	CAPEM      []byte // its contents
	User       string // registry user (htpasswd), with pull and push
	Password   string
}

// envKeys are the lines scripts/k8s/up writes into DIR/env.
var envKeys = []string{"PIPE_K8S_DIR", "KUBECONFIG", "PIPE_K8S_REGISTRY", "PIPE_K8S_REGISTRY_CA",
	"PIPE_K8S_REGISTRY_USER", "PIPE_K8S_REGISTRY_PASSWORD"}

// Get returns the cluster named by $PIPE_K8S_DIR after checking that its
// apiserver answers. Without PIPE_K8S_DIR the test is skipped, or fails
// when PIPE_K8S=1.
func Get(t testing.TB) *Cluster {
	t.Helper()
	dir := os.Getenv("PIPE_K8S_DIR")
	if dir == "" {
		if os.Getenv("PIPE_K8S") == "1" {
			t.Fatal("testcluster: PIPE_K8S=1 but PIPE_K8S_DIR is unset: run the Kubernetes tests with `make test-k8s`, " +
				"or start a cluster with `scripts/k8s/up DIR` (as root) and run them with PIPE_K8S_DIR=DIR")
		}
		t.Skip("no test cluster (PIPE_K8S_DIR unset): `make test-k8s` runs the Kubernetes tests on a real cluster")
	}
	c, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.ping(ctx); err != nil {
		t.Fatalf("testcluster: the cluster in %s does not answer: %v\n(is it up? `scripts/k8s/up %s` starts it; its logs are in %s/logs)", dir, err, dir, dir)
	}
	return c
}

// Load reads the facts of the cluster in dir from dir/env.
func Load(dir string) (*Cluster, error) {
	path := filepath.Join(dir, "env")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("testcluster: %s: no such file: no cluster is up in %s (scripts/k8s/up %s starts one)", path, dir, dir)
	}
	if err != nil {
		return nil, fmt.Errorf("testcluster: %w", err)
	}
	env, err := parseEnv(path, b)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: env["PIPE_K8S_DIR"], Kubeconfig: env["KUBECONFIG"], Registry: env["PIPE_K8S_REGISTRY"],
		CAFile: env["PIPE_K8S_REGISTRY_CA"], User: env["PIPE_K8S_REGISTRY_USER"], Password: env["PIPE_K8S_REGISTRY_PASSWORD"]}
	if c.CAPEM, err = os.ReadFile(c.CAFile); err != nil {
		return nil, fmt.Errorf("testcluster: %s: PIPE_K8S_REGISTRY_CA: %w", path, err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(c.CAPEM) {
		return nil, fmt.Errorf("testcluster: %s: PIPE_K8S_REGISTRY_CA %s holds no PEM certificate", path, c.CAFile)
	}
	return c, nil
}

// parseEnv reads `export KEY=VALUE` lines (comments and blank lines
// allowed) and checks that every key of envKeys is there, once.
func parseEnv(path string, b []byte) (map[string]string, error) {
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("testcluster: %s:%d: want `export KEY=VALUE`, got %q", path, n, line)
		}
		if _, dup := env[k]; dup {
			return nil, fmt.Errorf("testcluster: %s:%d: %s set twice", path, n, k)
		}
		env[k] = v
	}
	for _, k := range envKeys {
		if env[k] == "" {
			return nil, fmt.Errorf("testcluster: %s: %s missing or empty: the file is not from scripts/k8s/up; bring the cluster up again", path, k)
		}
	}
	return env, nil
}
