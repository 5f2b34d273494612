package kubeconfig

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/pipe-run/pipe/kube/internal/rest"
)

// Options are the caller's overrides of kubectl's rules.
type Options struct {
	// Path is an explicit kubeconfig file; "" follows the rules.
	Path string
	// Context overrides the current context; Namespace, the context's.
	Context, Namespace string
}

// Loaded is a connection that Load found.
type Loaded struct {
	Rest      rest.Config
	Namespace string
	// Files and Context are where it came from; InCluster is the service
	// account instead.
	Files     []string
	Context   string
	InCluster bool
}

// Where names the source for messages: "kubeconfig <files>, context
// <name>" or "in-cluster service account".
func (l *Loaded) Where() string {
	if l.InCluster {
		return "in-cluster service account"
	}
	return where(l.Files, l.Context)
}

func where(files []string, ctx string) string {
	return fmt.Sprintf("kubeconfig %s, context %q", strings.Join(files, string(os.PathListSeparator)), ctx)
}

// ErrNoConfig is the error when no kubeconfig file holds anything and pipe
// does not run in a pod.
var ErrNoConfig = errors.New("no kubeconfig and no in-cluster service account")

// ContextError is the error of a context the kubeconfig does not have.
type ContextError struct {
	Files   []string
	Context string
}

func (e *ContextError) Error() string {
	return fmt.Sprintf("%s: there is no context %q; list them with `kubectl config get-contexts`", where(e.Files, e.Context), e.Context)
}

// Error is any other problem of a kubeconfig: Where says which files and
// context.
type Error struct {
	Where string
	Err   error
}

func (e *Error) Error() string { return e.Where + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Files is the list of files kubectl's rules read for an explicit path:
// it, else KUBECONFIG's list, else ~/.kube/config.
func Files(explicit string) []string {
	if explicit != "" {
		return []string{explicit}
	}
	if env := os.Getenv("KUBECONFIG"); env != "" {
		var out []string
		seen := map[string]bool{}
		for _, p := range filepath.SplitList(env) {
			if p != "" && !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return nil
	}
	return []string{filepath.Join(home, ".kube", "config")}
}

// Load applies kubectl's rules and o's overrides.
func Load(o Options) (*Loaded, error) {
	files := Files(o.Path)
	m, err := readMerged(files, o.Path != "")
	if err != nil {
		return nil, &Error{Where: where(files, o.Context), Err: err}
	}
	if m.empty() {
		if l, ok, err := inCluster(serviceAccountDir, o.Namespace); ok || err != nil {
			return l, err
		}
		return nil, ErrNoConfig
	}
	return fromKubeconfig(m, files, o)
}

// fromKubeconfig builds the connection of the chosen context.
func fromKubeconfig(m *merged, files []string, o Options) (*Loaded, error) {
	name := o.Context
	if name == "" {
		name = m.currentContext
	}
	fail := func(format string, args ...any) error {
		return &Error{Where: where(files, name), Err: fmt.Errorf(format, args...)}
	}
	if name == "" {
		return nil, fail("no current context: choose one with `kubectl config use-context NAME` or pipe's context option")
	}
	kctx, ok := m.contexts[name]
	if !ok {
		return nil, &ContextError{Files: files, Context: name}
	}
	cl, ok := m.clusters[kctx.Cluster]
	if !ok {
		return nil, fail("the context names cluster %q, which is not defined; see `kubectl config get-clusters`", kctx.Cluster)
	}
	var u User
	if kctx.User != "" {
		if u, ok = m.users[kctx.User]; !ok {
			return nil, fail("the context names user %q, which is not defined; see `kubectl config get-users`", kctx.User)
		}
	}
	rc, err := restConfig(cl, u)
	if err != nil {
		return nil, fail("%w", err)
	}
	ns := kctx.Namespace
	if o.Namespace != "" {
		ns = o.Namespace
	}
	if ns == "" {
		ns = "default"
	}
	return &Loaded{Rest: rc, Namespace: ns, Files: files, Context: name}, nil
}

// restConfig is the rest.Config of a cluster and a user.
func restConfig(cl Cluster, u User) (rest.Config, error) {
	if cl.Server == "" {
		return rest.Config{}, errors.New("the cluster has no server: set its server (kubectl config set-cluster NAME --server=https://HOST:PORT)")
	}
	tc, err := tlsConfig(cl, u)
	if err != nil {
		return rest.Config{}, err
	}
	rc := rest.Config{Host: cl.Server, TLS: tc}
	if cl.ProxyURL != "" {
		proxy, err := proxyFunc(cl.ProxyURL)
		if err != nil {
			return rest.Config{}, err
		}
		rc.Proxy = proxy
	}
	if err := setAuth(&rc, cl, u); err != nil {
		return rest.Config{}, err
	}
	return rc, nil
}

// serviceAccountDir is where Kubernetes mounts a pod's service account.
const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// inCluster is the service account's connection when pipe runs in a pod:
// ok is false when it does not (KUBERNETES_SERVICE_HOST/PORT unset or no
// token file).
func inCluster(dir, nsOverride string) (*Loaded, bool, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, false, nil
	}
	tokenFile := filepath.Join(dir, "token")
	if _, err := os.Stat(tokenFile); err != nil {
		return nil, false, nil
	}
	cl := Cluster{Server: "https://" + net.JoinHostPort(host, port), CertificateAuthority: filepath.Join(dir, "ca.crt")}
	rc, err := restConfig(cl, User{TokenFile: tokenFile})
	if err != nil {
		return nil, true, &Error{Where: "in-cluster service account", Err: err}
	}
	ns := nsOverride
	if ns == "" {
		ns = os.Getenv("POD_NAMESPACE")
	}
	if ns == "" {
		if b, err := os.ReadFile(filepath.Join(dir, "namespace")); err == nil {
			ns = strings.TrimSpace(string(b))
		}
	}
	if ns == "" {
		ns = "default"
	}
	return &Loaded{Rest: rc, Namespace: ns, InCluster: true}, true, nil
}
