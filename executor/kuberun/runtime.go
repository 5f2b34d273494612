package kuberun

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor"
	"github.com/pipe-run/pipe/kube"
)

// Options configure a Runtime.
type Options struct {
	// Kube names the cluster, the namespace and the run (its RunID labels
	// every object). The runtime sets AgentImage and Events; RegistryConfig
	// and RegistryCA are the caller's.
	Kube  kube.Config
	Store *cache.Store
	// Repo is the cache repository (--cache-to): the pods fetch their
	// workspace from it and push their diff to it, and the cluster pulls
	// the agent image and the images only this machine has from it.
	Repo *cache.Remote
	// Agent returns pipe's agent image and its tag (podagent.Image and
	// ImageTag of pipe's own static binary); called once, before the
	// first pod.
	Agent func() (img v1.Image, tag string, err error)
	// Warn, if set, takes what the cluster says about the run as a whole
	// (API warnings).
	Warn func(string)
}

// Runtime is the executor.PodRuntime of a Kubernetes cluster (package kube).
// It opens on the first Run (an all-hit run talks to no cluster): it
// records the run as alive in the store (HoldRun), pushes the agent image
// and connects. Close deletes what the run left in the cluster.
type Runtime struct {
	o      Options
	ctx    context.Context // of a background open (Prefetch); Close cancels it
	cancel context.CancelFunc
	early  sync.Once

	mu      sync.Mutex
	b       *kube.Backend
	hold    *RunHold
	openErr error                   // a failure to open that will not pass within the run
	notes   map[string]*podListener // step -> its running attempt's
}

var _ executor.PodRuntime = (*Runtime)(nil)

// New returns the runtime; it does no I/O.
func New(o Options) (*Runtime, error) {
	if o.Store == nil || o.Repo == nil || o.Agent == nil || o.Kube.RunID == "" {
		return nil, errors.New("executor: Options.Store, Repo, Agent and Kube.RunID are required")
	}
	k := &Runtime{o: o, notes: map[string]*podListener{}}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	return k, nil
}

// Prefetch starts opening in the background (the executor calls it at the
// first cache miss), so that the agent image's push and the connection
// overlap the step's own pushes.
func (k *Runtime) Prefetch() {
	k.early.Do(func() { go k.open(k.ctx) })
}

// Image returns img by digest from its registry, or pushed to the cache
// repository when only this machine has it (cache.Image.Local).
func (k *Runtime) Image(ctx context.Context, img *cache.Image) (string, error) {
	if img.Local {
		return k.o.Store.PushImage(ctx, k.o.Repo, img, "img-"+img.Digest.Hex)
	}
	r, err := name.ParseReference(img.Ref)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", img.Ref, err)
	}
	return r.Context().Digest(img.Digest.String()).String(), nil
}

// Layer pushes dir as a layer blob of the cache repository.
func (k *Runtime) Layer(ctx context.Context, dir string) (cache.LayerBlob, error) {
	return k.o.Store.PushLayerDir(ctx, k.o.Repo, dir)
}

// Diff fetches a pod's diff from the cache repository.
func (k *Runtime) Diff(ctx context.Context, l cache.LayerBlob, dir string) error {
	return k.o.Store.FetchLayerDir(ctx, k.o.Repo, l, dir)
}

// Run runs the attempt as a pod and waits for it.
func (k *Runtime) Run(ctx context.Context, ps *executor.PodStep) (*executor.PodResult, error) {
	b, err := k.open(ctx)
	if err != nil {
		return nil, err
	}
	ks := k.kubeStep(ps)
	k.listen(ps.Name, ps.Note)
	defer k.listen(ps.Name, nil)
	res, err := b.Run(ctx, ks)
	var pe *kube.PodError
	switch {
	case errors.As(err, &pe) && res != nil:
		out, cerr := podResult(res)
		if cerr != nil {
			return nil, cerr
		}
		out.Detail = pe.Error()
		return out, nil
	case err != nil:
		return nil, err
	}
	return podResult(res)
}

// kubeStep is the kube package's description of the attempt. The agents
// speak HTTPS to the registry, always (kube.Step.Insecure stays false):
// pipe reaches a registry over plain HTTP only on loopback, which pods
// cannot reach.
func (k *Runtime) kubeStep(ps *executor.PodStep) *kube.Step {
	ks := &kube.Step{Name: ps.Name, ID: ps.ID, Image: ps.Image, Args: ps.Args, Env: ps.Env, Secrets: ps.Secrets,
		Dir: ps.Dir, User: ps.User, CPU: ps.CPU, Memory: ps.Memory, Pids: ps.Pids, Timeout: ps.Timeout,
		NetworkNone: ps.NetworkNone, Repo: k.o.Repo.Repository().String(),
		PreferNode: ps.PreferNode, Stdout: ps.Stdout}
	for _, l := range ps.Workspace {
		ks.Workspace = append(ks.Workspace, kubeLayer(l))
	}
	for _, v := range ps.Volumes {
		ks.Volumes = append(ks.Volumes, kube.Volume{Path: v.Path, Layer: kubeLayer(v.Layer)})
	}
	for _, sv := range ps.Services {
		ks.Services = append(ks.Services, kube.Service{Name: sv.Name, Aliases: sv.Aliases, Image: sv.Image,
			Entrypoint: sv.Args, Env: sv.Env, Ready: sv.Ready, Port: sv.Port,
			ReadyInterval: sv.ReadyInterval, ReadyTimeout: sv.ReadyTimeout, ReadyRetries: sv.ReadyRetries})
	}
	return ks
}

func kubeLayer(l cache.LayerBlob) kube.Layer {
	return kube.Layer{Digest: l.Digest.String(), DiffID: l.DiffID.String(), Size: l.Size, MediaType: string(l.MediaType)}
}

// podResult is the executor's view of a kube.Result.
func podResult(res *kube.Result) (*executor.PodResult, error) {
	out := &executor.PodResult{ExitCode: res.ExitCode, OOMKilled: res.OOMKilled, TimedOut: res.TimedOut, Canceled: res.Canceled,
		Node: res.Node, Detail: res.Detail, Notes: res.Notes}
	var err error
	if out.Diff, err = layerBlob(res.Diff); err != nil {
		return nil, err
	}
	for _, d := range res.Volumes {
		l, err := layerBlob(d)
		if err != nil {
			return nil, err
		}
		out.Volumes = append(out.Volumes, l)
	}
	return out, nil
}

// layerBlob is the executor's view of a diff the pod reported (nil: none).
func layerBlob(d *kube.Layer) (*cache.LayerBlob, error) {
	if d == nil {
		return nil, nil
	}
	digest, err1 := v1.NewHash(d.Digest)
	diffID, err2 := v1.NewHash(d.DiffID)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("the pod reported a diff that is not a layer (%q, %q): %w", d.Digest, d.DiffID, err)
	}
	return &cache.LayerBlob{Digest: digest, DiffID: diffID, Size: d.Size, MediaType: types.MediaType(d.MediaType)}, nil
}

// open records the run as alive, pushes the agent image and connects, on
// first use. A failure the run cannot get past (no cluster, no agent
// image) is kept and returned to every later step; an interrupted one is
// tried again.
func (k *Runtime) open(ctx context.Context) (*kube.Backend, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.b != nil || k.openErr != nil {
		return k.b, k.openErr
	}
	b, err := k.dial(ctx)
	if err != nil && ctx.Err() == nil {
		k.openErr = err
	}
	k.b = b
	return b, err
}

// dial is open's work.
func (k *Runtime) dial(ctx context.Context) (*kube.Backend, error) {
	if k.hold == nil {
		hold, err := HoldRun(k.o.Store, k.o.Kube.RunID)
		if err != nil {
			return nil, err
		}
		k.hold = hold
	}
	img, tag, err := k.o.Agent()
	if err != nil {
		return nil, fmt.Errorf("pipe's agent image: %w", err)
	}
	ref, err := k.o.Repo.PutImage(ctx, img, tag)
	if err != nil {
		return nil, fmt.Errorf("pipe's agent image: %w", err)
	}
	c := k.o.Kube
	c.AgentImage, c.Events = ref, k.event
	return kube.New(ctx, c)
}

// podListener is where the events of one attempt go: each line once (the
// kubelet repeats a warning while its cause lasts).
type podListener struct {
	note func(string)
	seen map[string]bool
}

// listen routes the cluster's events about step to note (nil: nowhere).
func (k *Runtime) listen(step string, note func(string)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if note == nil {
		delete(k.notes, step)
		return
	}
	k.notes[step] = &podListener{note: note, seen: map[string]bool{}}
}

// event tells the step's log (or Warn) what the cluster said.
func (k *Runtime) event(e kube.Event) {
	line := eventLine(e)
	if line == "" {
		return
	}
	k.mu.Lock()
	l := k.notes[e.Step]
	fresh := l != nil && !l.seen[line]
	if fresh {
		l.seen[line] = true
	}
	k.mu.Unlock()
	switch {
	case fresh:
		l.note(line)
	case l == nil && e.Step == "" && k.o.Warn != nil:
		k.o.Warn(line)
	}
}

// eventLine is how an event reads in a step's log; "" for what the end
// of the step says anyway.
func eventLine(e kube.Event) string {
	switch {
	case e.Type == kube.EventPhase && (e.Reason == "Succeeded" || e.Reason == "Failed"):
		return ""
	case e.Type == kube.EventPhase:
		return fmt.Sprintf("pod %s: %s", e.Pod, e.Reason)
	}
	return fmt.Sprintf("kubernetes: %s: %s", e.Reason, e.Message)
}

// Close deletes every object the run left in the cluster (its pods,
// NetworkPolicies and Secret) and ends the run's record; call it when Run
// has returned. A run that could not clean up stays recorded, for `pipe
// cache prune --kubernetes`.
func (k *Runtime) Close(ctx context.Context) error {
	k.cancel()
	k.mu.Lock()
	defer k.mu.Unlock()
	var err error
	if k.b != nil {
		err = k.b.Close(ctx)
	}
	if k.hold != nil {
		k.hold.Release(err == nil)
	}
	return err
}

// Prune removes what dead runs of this store left in the cluster c
// names: their pods, NetworkPolicies and Secrets (kube.Prune). A run is
// dead when its record in the store is no longer held (RunLiveness); a
// run with no record is kept while younger than maxAge.
func Prune(ctx context.Context, s *cache.Store, c kube.Config, maxAge time.Duration) (*kube.PruneReport, error) {
	l := NewRunLiveness(s, maxAge)
	rep, err := kube.Prune(ctx, c, l.Keep)
	if err == nil {
		l.Forget()
	}
	return rep, err
}
