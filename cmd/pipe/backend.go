package main

import (
	"context"
	"debug/elf"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor"
	"github.com/pipe-run/pipe/executor/kuberun"
	"github.com/pipe-run/pipe/executor/podagent"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/isolation"
	"github.com/pipe-run/pipe/kube"
)

// Backends: where the steps of pipe run run.
const (
	backendLocal = "local"      // containers of this machine (isolation)
	backendKube  = "kubernetes" // a pod per step (kube)
)

// kubeCloseTimeout bounds the deletion of what a run left in its cluster.
const kubeCloseTimeout = time.Minute

// kubeFlags name a cluster and a namespace, by kubectl's rules unless set.
type kubeFlags struct {
	kubeconfig, context, namespace string
}

func addKubeFlags(cmd *cobra.Command, f *kubeFlags) {
	fl := cmd.Flags()
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file of the cluster (default: kubectl's rules: $KUBECONFIG, ~/.kube/config, the in-cluster service account)")
	fl.StringVar(&f.context, "kube-context", "", "kubeconfig context (default: its current context)")
	fl.StringVar(&f.namespace, "kube-namespace", "", "namespace of the pods (default: the context's, else default)")
}

// config is the kube.Config the flags name, for run runID.
func (f *kubeFlags) config(runID string) kube.Config {
	return kube.Config{Kubeconfig: f.kubeconfig, Context: f.context, Namespace: f.namespace, RunID: runID}
}

// backendFlags choose where the steps run.
type backendFlags struct {
	backend string
	kube    kubeFlags
}

func addBackendFlags(cmd *cobra.Command, f *backendFlags) {
	cmd.Flags().StringVar(&f.backend, "backend", "", "where steps run: local (a container each, on this machine) or kubernetes (a pod each; needs --cache-to) (default $PIPE_BACKEND, else local)")
	addKubeFlags(cmd, &f.kube)
}

// kind is the backend the flags or PIPE_BACKEND choose.
func (f *backendFlags) kind() (string, error) {
	b, from := f.backend, "--backend"
	if b == "" {
		b, from = strings.TrimSpace(os.Getenv("PIPE_BACKEND")), "PIPE_BACKEND"
	}
	switch b {
	case "", backendLocal:
		if f.kube != (kubeFlags{}) {
			return "", usageError("--kubeconfig, --kube-context and --kube-namespace need --backend kubernetes")
		}
		return backendLocal, nil
	case backendKube, "k8s":
		return backendKube, nil
	}
	return "", usageError("%s %q: want local or kubernetes", from, b)
}

// useLocal makes the run's steps containers of this machine.
//
// Whether containers can run here is checked in the background, while the
// store opens; the returned func waits for that check and says why not.
func useLocal(o *output, f runFlags, opts *executor.Options) (*executor.LazyRuntime, func() error) {
	avail := make(chan error, 1)
	go func() { avail <- isolation.Available() }()
	rt := executor.NewLazyRuntime(openRuntime(o, f.strictLimits)) // a run of cache hits opens none
	if f.noCache {
		rt.Prefetch() // every step starts a container: open while the store opens and git runs
	}
	opts.Runtime = rt
	return rt, func() error {
		if err := <-avail; err != nil {
			return fmt.Errorf("cannot run containers here: %w", err)
		}
		return nil
	}
}

// useKube makes the run's steps pods of the cluster the flags name, their
// workspaces travelling through the --cache-to repository.
func useKube(o *output, f runFlags, opts *executor.Options) (func(), error) {
	repo, err := f.share.kubeRepo()
	if err != nil {
		return nil, err
	}
	if opts.RunID == "" {
		opts.RunID = runlog.NewID(time.Now())
	}
	cfg := f.backends.kube.config(opts.RunID)
	if cfg.RegistryConfig, err = kuberun.RegistryAuth(repo.Repository(), nil); err != nil {
		return nil, fmt.Errorf("--cache-to %s: %w", repo, err)
	}
	if cfg.RegistryCA, err = registryCA(); err != nil {
		return nil, err
	}
	masker := runlog.NewMasker(slices.Collect(maps.Values(opts.Secrets))) // what the cluster says could quote anything
	kr, err := kuberun.New(kuberun.Options{Kube: cfg, Store: opts.Store, Repo: repo, Agent: agentImage,
		Warn: func(msg string) { fmt.Fprintf(o.stderr, "%s %s\n", o.yellow("warning:"), masker.Mask(msg)) }})
	if err != nil {
		return nil, err
	}
	opts.Pods, opts.Runtime = kr, nil
	return func() { closeKube(o, kr) }, nil
}

// closeKube deletes the run's objects in the cluster, saying so if it
// could not.
func closeKube(o *output, kr *kuberun.Runtime) {
	ctx, cancel := context.WithTimeout(context.Background(), kubeCloseTimeout)
	defer cancel()
	if err := kr.Close(ctx); err != nil {
		fmt.Fprintf(o.stderr, "%s %v\n  `pipe cache prune --kubernetes` removes what this run left in the cluster\n", o.yellow("warning:"), err)
	}
}

// kubeRepo is the cache repository the pods use: --cache-to (or
// PIPE_CACHE_TO), required, and reachable from the cluster.
func (f *shareFlags) kubeRepo() (*cache.Remote, error) {
	to := f.to
	if to == "" {
		to = strings.TrimSpace(os.Getenv("PIPE_CACHE_TO"))
	}
	if to == "" {
		return nil, usageError("--backend kubernetes needs --cache-to REPOSITORY (or PIPE_CACHE_TO): the registry is how each step's workspace travels to its pod and back")
	}
	if r, err := name.NewRepository(to); err == nil && cache.IsLoopback(r.RegistryStr()) {
		return nil, usageError("--cache-to %s: the cluster's pods cannot reach a registry on this machine's loopback: give an address of the registry that the cluster reaches too", to)
	}
	rem, err := cache.OpenRemote(to, cache.RemoteOptions{})
	if err != nil {
		return nil, usageError("--cache-to: %v", err)
	}
	return rem, nil
}

// registryCA is what the agents trust for the registry: the certificates
// this process trusts beyond the system's (SSL_CERT_FILE), if any.
func registryCA() ([]byte, error) {
	p := os.Getenv("SSL_CERT_FILE")
	if p == "" {
		return nil, nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("SSL_CERT_FILE: %w", err)
	}
	return b, nil
}

// agentImage is pipe's agent image: this very binary, which must be static
// (it runs in images that hold no libc).
func agentImage() (v1.Image, string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	if err := checkStatic(exe); err != nil {
		return nil, "", err
	}
	img, err := podagent.Image(exe)
	if err != nil {
		return nil, "", err
	}
	tag, err := podagent.ImageTag(exe)
	if err != nil {
		return nil, "", err
	}
	return img, tag, nil
}

// checkStatic refuses a binary the pods cannot run: one that needs a
// dynamic loader (the images it runs in may have none), or not Linux's.
func checkStatic(exe string) error {
	f, err := elf.Open(exe)
	if err != nil {
		return fmt.Errorf("pipe's binary %s is not a Linux executable (%v): the kubernetes backend runs it in the pods, so it needs pipe built for Linux", exe, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("pipe's binary %s is dynamically linked: the kubernetes backend runs it in the pods, in images that may hold no libc; use a static build (make build: CGO_ENABLED=0)", exe)
		}
	}
	return nil
}

// foreignRunAge is how old a run of this machine that the store has no
// record of (another store's) must be before a prune removes its objects.
const foreignRunAge = 24 * time.Hour

// pruneKube is pipe cache prune --kubernetes.
func pruneKube(ctx context.Context, o *output, s *cache.Store, f kubeFlags, asJSON bool) error {
	rep, err := kuberun.Prune(ctx, s, f.config(""), foreignRunAge)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(o, rep)
	}
	if len(rep.Runs) == 0 {
		o.printf("nothing to prune in the cluster\n")
	}
	for _, run := range rep.Runs {
		o.printf("removed what run %s left\n", run)
	}
	o.printf("removed %d pod(s), %d NetworkPolicy(s), %d Secret(s)\n", len(rep.Pods), len(rep.NetworkPolicies), len(rep.Secrets))
	if rep.OtherHosts > 0 {
		o.printf("%s\n", o.faint(fmt.Sprintf("left %d run(s) of other machines alone: prune them from there", rep.OtherHosts)))
	}
	return nil
}
