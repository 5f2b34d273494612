package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/pipe-run/pipe/kube/internal/kubeconfig"
	"github.com/pipe-run/pipe/kube/internal/rest"
)

// Config says which cluster, namespace and run a Backend works for.
type Config struct {
	// Kubeconfig, Context and Namespace override kubectl's rules: ""
	// means KUBECONFIG (a list of files), else ~/.kube/config, else the
	// in-cluster service account when pipe runs in a pod; the kubeconfig's
	// current context; the context's namespace, else "default".
	Kubeconfig, Context, Namespace string

	// RunID labels every object of the run (pipe.run/run): unique per pipe
	// run, a valid label value of at most 58 characters.
	RunID string

	// AgentImage is the pullable reference of the agent image (a layer with
	// pipe's static binary at /pipe), pushed by the executor.
	AgentImage string

	// RegistryConfig is a Docker config.json granting pull and push on the
	// cache repository; nil is anonymous. RegistryCA is an optional PEM the
	// agents trust for the registry. Both go into the run's Secret.
	RegistryConfig []byte
	RegistryCA     []byte

	// Events, if set, hears of pod phase changes and Kubernetes warnings.
	// Calls are serialised (one at a time) even with Runs in parallel.
	Events func(Event)

	// noAgent runs the step's argv as the container's command, without the
	// agent containers, the workspace and the diff: tests of the cluster
	// side that need no agent image set it. Not part of the contract.
	noAgent bool
}

// checkTimeout bounds New's request to the API server.
const checkTimeout = 20 * time.Second

// New connects to the cluster and checks, with one request, that the API
// server answers and the namespace exists. The run's Secret is created
// later, before the first pod.
func New(ctx context.Context, c Config) (*Backend, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	return dial(ctx, c)
}

// dial loads the kubeconfig, makes the client and checks the namespace.
func dial(ctx context.Context, c Config) (*Backend, error) {
	conn, err := loadConfig(c)
	if err != nil {
		return nil, err
	}
	b := newBackend(c, nil, conn.namespace)
	conn.rest.Warning = func(text string) { b.notify(Event{Type: EventWarning, Reason: "APIWarning", Message: text}) }
	client, err := rest.New(conn.rest)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %s: %w", conn.where, err)
	}
	b.client, b.where = restClient{client}, conn.where
	if err := b.checkNamespace(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// check validates what New needs of c before it talks to anyone.
func (c *Config) check() error {
	if !isLabelValue(c.RunID) || len(c.RunID) > 58 {
		return fmt.Errorf("kubernetes: run ID %q is not a label value of at most 58 characters (letters, digits, '-', '_', '.')", c.RunID)
	}
	if c.AgentImage == "" && !c.noAgent {
		return errors.New("kubernetes: no agent image: the executor must build and push pipe's agent image first")
	}
	if len(c.RegistryConfig) > 0 && !json.Valid(c.RegistryConfig) {
		return errors.New("kubernetes: the registry config is not JSON: it must be a Docker config.json")
	}
	return nil
}

// conn is a loaded kubeconfig.
type conn struct {
	rest      rest.Config
	namespace string
	where     string // "kubeconfig <files>, context <name>" or "in-cluster service account", for errors
}

// loadConfig applies kubectl's rules and c's overrides.
func loadConfig(c Config) (*conn, error) {
	l, err := kubeconfig.Load(kubeconfig.Options{Path: c.Kubeconfig, Context: c.Context, Namespace: c.Namespace})
	if err != nil {
		return nil, loadError(c.Kubeconfig, err)
	}
	rc := l.Rest
	rc.QPS, rc.Burst, rc.UserAgent = 50, 100, "pipe"
	return &conn{rest: rc, namespace: l.Namespace, where: l.Where()}, nil
}

// loadError says what was wrong with the kubeconfig and what to do.
func loadError(explicit string, err error) error {
	if errors.Is(err, kubeconfig.ErrNoConfig) {
		return fmt.Errorf("kubernetes: no cluster configured: %s holds no usable kubeconfig and pipe does not run in a pod; point KUBECONFIG (or pipe's kubeconfig option) at the cluster's kubeconfig",
			strings.Join(kubeconfig.Files(explicit), string(os.PathListSeparator)))
	}
	return fmt.Errorf("kubernetes: %w", err)
}
