package kube

import (
	"io"
	"time"
)

// Step is one attempt of a step, as a pod. Run validates it and says which
// field is wrong.
type Step struct {
	Name string // the step's name, for labels, events and errors
	ID   string // pod name base; sanitised to DNS-1123 and made unique by a random suffix

	Image string   // pullable by the cluster, best by digest
	Args  []string // the main argv (sh -e -c ...), run by the agent's wrapper
	Env   []string // KEY=VALUE, in order; a later KEY wins

	// Secrets maps env names to values, for this step only. The values go
	// into the run's Secret and reach the step's container as secretKeyRef,
	// never as a value in the pod spec.
	Secrets map[string]string

	Dir  string // working directory; "" is the image's
	User string // "uid" or "uid:gid"; "" is the image's user; names are refused (a pod needs numbers)

	CPU    float64 // cores, requests = limits; 0 is unset
	Memory int64   // bytes, requests = limits; 0 is unset
	Pids   int64   // not applied: Kubernetes has no per-pod pids limit (Result.Notes says so)

	// Timeout bounds the pod (activeDeadlineSeconds, counted from the kubelet
	// accepting it, so the agent's fetch counts too); 0 is none.
	Timeout time.Duration

	// NetworkNone denies the pod all traffic but egress to the cache
	// registry (a NetworkPolicy; the cluster's network plugin must enforce it).
	NetworkNone bool

	Repo     string // cache repository "host[:port]/path" the layers live in and the diff goes to
	Insecure bool   // the registry speaks plain HTTP (or unverified TLS)

	Workspace []Layer // applied onto /workspace in order, lowest first
	Services  []Service

	// Volumes are the step's cache volumes: each an emptyDir at its Path in
	// the step's container, its Layer applied there by pipe-init, and
	// what the step changed in it pushed by pipe-push (Result.Volumes).
	Volumes []Volume

	// Scratch are absolute paths in the step's container that get an empty
	// dir each (an emptyDir), e.g. for cache dirs a pod cannot bring along.
	Scratch []string

	PreferNode string    // preferred node (by name); "" none
	Stdout     io.Writer // the step container's log, written while it runs (by another goroutine, never after Run returned); nil discards
}

// Volume is one cache volume of a step.
type Volume struct {
	Path  string // absolute, in the step's container
	Layer Layer  // its content when the step starts
}

// Layer is one layer blob in the cache repository.
type Layer struct {
	Digest    string `json:"digest"`    // sha256:<hex> of the blob
	DiffID    string `json:"diffID"`    // sha256:<hex> of the uncompressed tar
	Size      int64  `json:"size"`      // of the blob, in bytes
	MediaType string `json:"mediaType"` // an OCI or Docker layer media type
}

// Service is a container beside the step (a native sidecar that starts
// before it), reachable by Name and Aliases at 127.0.0.1.
type Service struct {
	Name       string
	Aliases    []string
	Image      string
	Entrypoint []string // "" keeps the image's entrypoint
	Args       []string // "" keeps the image's cmd
	Env        []string // KEY=VALUE

	// Ready is an exec probe (argv) that gates the step: the step starts when
	// it has passed once. With no Ready, Port > 0 is a TCP probe of Port on
	// the pod's address; with neither the service counts as ready once
	// started.
	Ready []string
	Port  int

	// ReadyInterval, ReadyTimeout and ReadyRetries shape the probe; zero is
	// pipe's defaults (1s, 10s, 60), those of a local run.
	ReadyInterval time.Duration
	ReadyTimeout  time.Duration
	ReadyRetries  int
}

// Result is how a step attempt ended.
type Result struct {
	ExitCode  int  // the step's exit code (128+signal when killed)
	OOMKilled bool // the step's container hit its memory limit
	TimedOut  bool // the pod's deadline (Timeout) or ctx's deadline passed
	Canceled  bool // ctx was canceled; the pod was deleted

	Diff *Layer // the pushed diff of /workspace, nil if none
	// Volumes[i] is the pushed diff of Step.Volumes[i], nil when the step
	// did not change it (or the diffs were lost with the workspace's).
	Volumes []*Layer
	Node    string // the node it ran on ("" if it never got one)

	// Detail says why, for pipe-side failures (then Run's error is a
	// *PodError carrying the same), with the pod's events.
	Detail string

	// Notes are what of the Step the cluster could not honour, e.g. a pids
	// limit. They hold no secret values.
	Notes []string
}
