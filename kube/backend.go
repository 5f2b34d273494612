package kube

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	apierrors "github.com/pipe-run/pipe/kube/internal/k8s/apierrors"
)

// Backend runs the step attempts of one pipe run in one namespace.
//
// Lifecycle: New, then any number of Run (concurrently), then Close once
// every Run has returned. Close is idempotent and also safe after New
// failed half way (it then has nothing to do).
type Backend struct {
	cfg    Config
	client apiClient
	ns     string
	where  string // the kubeconfig and context, for errors
	host   string // AnnotationHost

	secret secretState

	eventsMu sync.Mutex // serialises cfg.Events

	// resync is how long a watch runs before it is restarted from a fresh
	// list (a missed event costs at most this); logRetry is the pause
	// before a broken log stream is reopened; cleanupTimeout bounds the
	// deletes at the end of a Run, whatever ctx says.
	resync, logRetry, cleanupTimeout time.Duration
	// pushWait bounds the wait for pipe-push's report once the step has
	// ended: the kubelet stops it within the pod's grace period.
	pushWait time.Duration

	// lookupIP resolves the registry's host for NetworkPolicies.
	lookupIP func(ctx context.Context, host string) ([]net.IP, error)
}

// newBackend is New after the client exists (tests pass one over a fake clientset).
func newBackend(c Config, client apiClient, ns string) *Backend {
	host, _ := os.Hostname()
	return &Backend{
		cfg: c, client: client, ns: ns, where: "the cluster", host: labelValue(host),
		resync: 30 * time.Second, logRetry: time.Second, cleanupTimeout: 30 * time.Second, pushWait: 90 * time.Second,
		lookupIP: func(ctx context.Context, host string) ([]net.IP, error) {
			return net.DefaultResolver.LookupIP(ctx, "ip", host)
		},
	}
}

// Namespace returns the namespace the Backend works in.
func (b *Backend) Namespace() string { return b.ns }

// checkNamespace is New's one request: it proves that the API server
// answers, accepts the credentials, and has the namespace.
func (b *Backend) checkNamespace(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	err := b.client.getNamespace(ctx, b.ns)
	switch {
	case err == nil, apierrors.IsForbidden(err):
		// Forbidden: the server answered and knows who we are; a user
		// confined to the namespace may not read namespace objects.
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("kubernetes: %s: namespace %q does not exist: create it (kubectl create namespace %s) or choose another", b.where, b.ns, b.ns)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("kubernetes: %s: the API server refused the credentials: renew them (log in again) or choose another context: %w", b.where, err)
	}
	return fmt.Errorf("kubernetes: %s: the API server does not answer: check that the cluster is up and the kubeconfig's server address is right: %w", b.where, err)
}

// Close deletes every object of the run that is left (pods,
// NetworkPolicies, the run's Secret) and returns when they are gone, or
// when ctx ends. Call it when every Run has returned.
func (b *Backend) Close(ctx context.Context) error {
	if b == nil || b.client == nil {
		return nil
	}
	err := deleteRun(ctx, b.client, b.ns, b.cfg.RunID)
	b.secret.forget()
	return err
}

// notify hands e to cfg.Events, one call at a time.
func (b *Backend) notify(e Event) {
	if b.cfg.Events == nil {
		return
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	b.eventsMu.Lock()
	defer b.eventsMu.Unlock()
	b.cfg.Events(e)
}
