package testcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// TestLabel marks the namespaces Namespace creates, so leftovers of killed
// test runs can be found (kubectl get ns -l pipe.run/test).
const TestLabel = "pipe.run/test"

// RESTConfig is the admin's client configuration.
func (c *Cluster) RESTConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("testcluster: kubeconfig %s: %w", c.Kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	return cfg, nil
}

// Client is a client-go clientset with the admin's rights.
func (c *Cluster) Client(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := c.clientset()
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func (c *Cluster) clientset() (*kubernetes.Clientset, error) {
	cfg, err := c.RESTConfig()
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("testcluster: client for %s: %w", c.Kubeconfig, err)
	}
	return cs, nil
}

// ping asks the apiserver's /readyz.
func (c *Cluster) ping(ctx context.Context) error {
	cs, err := c.clientset()
	if err != nil {
		return err
	}
	b, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	if err != nil {
		return fmt.Errorf("GET /readyz: %w (%s)", err, strings.TrimSpace(string(b)))
	}
	return nil
}

// Namespace creates a namespace of the test's own, deleted (with all that
// is in it) when the test ends, and waits for its default ServiceAccount:
// until the controller-manager made it, pods are refused.
func (c *Cluster) Namespace(t testing.TB) string {
	t.Helper()
	cs := c.Client(t)
	ctx := context.Background()
	name := uniqueName(t, "t", 63)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{TestLabel: "true"}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("testcluster: create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		bg := metav1.DeletePropagationBackground
		err := cs.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{PropagationPolicy: &bg})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("testcluster: delete namespace %s: %v", name, err)
		}
	})
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, err := cs.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return name
		}
		if !apierrors.IsNotFound(err) || time.Now().After(deadline) {
			t.Fatalf("testcluster: namespace %s: no default ServiceAccount (is kube-controller-manager running? see %s/logs): %v", name, c.Dir, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// uniqueName is prefix-<the test's name, as a DNS label>-<8 random hex>,
// at most max characters.
func uniqueName(t testing.TB, prefix string, max int) string {
	var r [4]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatal(err)
	}
	suffix := "-" + hex.EncodeToString(r[:])
	base := prefix + "-" + dnsLabel(t.Name())
	if n := max - len(suffix); len(base) > n {
		base = strings.TrimRight(base[:n], "-")
	}
	return base + suffix
}

// dnsLabel lowercases s and turns every run of other characters than
// [a-z0-9] into one '-'.
func dnsLabel(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.TrimRight(b.String(), "-")
}
