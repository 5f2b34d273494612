package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
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
	conn.rest.WarningHandler = warningHandler{b}
	client, err := newRESTClient(conn.rest)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %s: %w", conn.where, err)
	}
	b.client, b.where = client, conn.where
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
	rest      *rest.Config
	namespace string
	where     string // "kubeconfig <files>, context <name>" or "in-cluster service account", for errors
}

// loadConfig applies kubectl's loading rules and c's overrides.
func loadConfig(c Config) (*conn, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = c.Kubeconfig
	over := &clientcmd.ConfigOverrides{CurrentContext: c.Context}
	over.Context.Namespace = c.Namespace
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, over)
	where := describeSource(rules, cc, c.Context)
	if err := checkContext(cc, c.Context, where); err != nil {
		return nil, err
	}
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, loadError(rules, c.Context, where, err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %s: namespace: %w", where, err)
	}
	if c.Namespace != "" {
		ns = c.Namespace
	}
	rc.QPS, rc.Burst, rc.UserAgent = 50, 100, "pipe"
	return &conn{rest: rc, namespace: ns, where: where}, nil
}

// describeSource names the kubeconfig files and the context, or the
// in-cluster service account, for error messages.
func describeSource(rules *clientcmd.ClientConfigLoadingRules, cc clientcmd.ClientConfig, override string) string {
	raw, err := cc.RawConfig()
	if err == nil && len(raw.Contexts) == 0 && os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		return "in-cluster service account"
	}
	ctxName := override
	if ctxName == "" && err == nil {
		ctxName = raw.CurrentContext
	}
	return fmt.Sprintf("kubeconfig %s, context %q", kubeconfigFiles(rules), ctxName)
}

// checkContext refuses a context the kubeconfig does not have.
func checkContext(cc clientcmd.ClientConfig, name, where string) error {
	if name == "" {
		return nil
	}
	raw, err := cc.RawConfig()
	if err != nil {
		return nil // loading fails again, with its own error, in ClientConfig
	}
	if _, ok := raw.Contexts[name]; !ok {
		return fmt.Errorf("kubernetes: %s: there is no context %q; list them with `kubectl config get-contexts`", where, name)
	}
	return nil
}

// kubeconfigFiles is the file list kubectl's rules read.
func kubeconfigFiles(rules *clientcmd.ClientConfigLoadingRules) string {
	if rules.ExplicitPath != "" {
		return rules.ExplicitPath
	}
	return strings.Join(rules.Precedence, string(os.PathListSeparator))
}

// loadError says what was wrong with the kubeconfig and what to do.
func loadError(rules *clientcmd.ClientConfigLoadingRules, ctxName, where string, err error) error {
	switch {
	case clientcmd.IsEmptyConfig(err):
		return fmt.Errorf("kubernetes: no cluster configured: %s holds no usable kubeconfig and pipe does not run in a pod; point KUBECONFIG (or pipe's kubeconfig option) at the cluster's kubeconfig", kubeconfigFiles(rules))
	case clientcmd.IsContextNotFound(err):
		return fmt.Errorf("kubernetes: %s: there is no context %q; list them with `kubectl config get-contexts`", where, ctxName)
	}
	return fmt.Errorf("kubernetes: %s: %w", where, err)
}
