package executor

import (
	"context"
	"io"
	"time"

	"github.com/pipe-run/pipe/cache"
)

// Steps elsewhere: with Options.Pods set, every step attempt that misses
// the cache runs as a pod of a cluster instead of a local container, and
// pipe stays the coordinator (scheduler, step cache, logs, events). The step
// life is the local one with the container swapped for a pod
// (step_pod.go): the same key, the same script, env and limits; the
// workspace's lower dirs go to the pod as layer blobs of the cache
// repository, and what the step wrote under /workspace comes back as one,
// fetched into a staging upper dir that then goes exactly where a local
// container's upper dir goes (outputs filter, commit by key, push, or the
// kept failure of pipe debug --last).
//
// The executor owns this description; package executor/kuberun adapts it onto
// kube.Backend, and tests use a fake that runs the pod as a fake container.

// PodRuntime runs step attempts as pods, their workspace travelling
// through a registry repository. Its methods are safe for concurrent use.
//
// Lifecycle: any number of Image, Layer, Run and Diff calls; the caller
// (cmd/pipe) closes the runtime after the run (deleting what the run left
// in the cluster), which is not the executor's business.
type PodRuntime interface {
	// Image returns a reference the cluster pulls img by: by digest, from
	// its registry or, for an image that exists only in the store, from
	// the cache repository it is pushed to. The executor asks once per
	// image per run.
	Image(ctx context.Context, img *cache.Image) (string, error)
	// Layer makes the overlay-form dir (the snapshot, an output layer) a
	// blob the pods fetch. The executor asks once per dir per run.
	Layer(ctx context.Context, dir string) (cache.LayerBlob, error)
	// Run runs one attempt and waits for its end. ctx bounds it: when ctx
	// is done the pod is deleted. An error is a failure of pipe or of the
	// cluster before the step could run (nothing of it is left behind);
	// how the step itself ended is in the result.
	Run(ctx context.Context, s *PodStep) (*PodResult, error)
	// Diff fetches a diff a pod pushed into dir (empty, from
	// cache.Store.NewStaging), in overlay form, after checking its digests.
	Diff(ctx context.Context, l cache.LayerBlob, dir string) error
}

// PodStep is one step attempt for a pod.
type PodStep struct {
	Name string // the step
	ID   string // unique per attempt, a DNS-1123 label: the pod's name base
	// Image is pullable by the cluster, by digest (PodRuntime.Image).
	Image string
	Args  []string // the same sh -e -c <script> a local container runs
	Env   []string // KEY=VALUE, without the secrets
	// Secrets are the step's own secrets, name -> value: never in Env, so
	// never in the pod's spec.
	Secrets     map[string]string
	Dir, User   string // working dir; "uid:gid" resolved from the image, or ""
	CPU         float64
	Memory      int64
	Pids        int64
	Timeout     time.Duration
	NetworkNone bool              // no network but loopback (its services) and the registry
	Workspace   []cache.LayerBlob // lowest first: the snapshot, then what the step needs
	Volumes     []PodVolume       // the step's cache volumes, in name order
	Services    []PodService
	PreferNode  string    // a node to prefer (where a step it needs ran), or ""
	Stdout      io.Writer // the step's output, streamed while it runs
	// Note, if set, takes what the runtime has to tell about the attempt
	// while it runs (the pod's phases, the cluster's warnings), for the
	// step's log as pipe lines.
	Note func(string)
}

// PodVolume is one cache volume of a pod's step: its content, to apply
// onto an empty dir at Path before the step starts.
type PodVolume struct {
	Path  string
	Layer cache.LayerBlob
}

// PodService is one service of a pod's step, reachable by name and aliases
// on the pod's loopback.
type PodService struct {
	Name    string
	Aliases []string
	Image   string   // pullable, by digest
	Args    []string // its whole argv (command, else the image's entrypoint and cmd)
	Env     []string // KEY=VALUE, the image's included
	// Ready is the exec readiness check (sh -c <run>), nil: none; Port a
	// TCP port to wait for when there is no check (wait_ports), 0: none.
	Ready                       []string
	ReadyInterval, ReadyTimeout time.Duration
	ReadyRetries                int
	Port                        int
}

// PodResult is how a pod's step ended.
type PodResult struct {
	ExitCode  int
	OOMKilled bool
	TimedOut  bool
	Canceled  bool
	// Diff is what the step wrote under /workspace, pushed by the pod; nil
	// when it pushed none.
	Diff *cache.LayerBlob
	// Volumes[i] is what the step changed in PodStep.Volumes[i], pushed
	// by the pod (in overlay form once fetched by Diff: whiteouts for what
	// it removed); nil when it changed nothing there.
	Volumes []*cache.LayerBlob
	Node    string // the node it ran on
	// Detail says why the step did not run when pipe or the cluster failed
	// it (unschedulable, image pull error, the agent failed), with the pod's
	// events, and names the pod; "" when the step ran.
	Detail string
	// Notes say what of the step the cluster did not apply (a pids limit).
	Notes []string
}
