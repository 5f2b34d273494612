package pipeline

import (
	"strings"
	"time"
)

// Workspace is where the repository is mounted in every step's container;
// a relative workdir is relative to it.
const Workspace = "/workspace"

// Shell is the shell that runs a step's commands, as "sh -e -c SCRIPT".
const Shell = "/bin/sh"

// Defaults applied when the file says nothing.
const (
	DefaultTimeout       = time.Hour        // a step's timeout
	DefaultReadyInterval = time.Second      // between two readiness checks of a service
	DefaultReadyTimeout  = 10 * time.Second // one readiness check
	DefaultReadyRetries  = 60               // readiness checks before the service counts as failed
	ServicePortWait      = 30 * time.Second // how long wait_ports waits for a service's ports
)

// Limits that keep a hostile or mistaken file from exhausting memory.
const (
	MaxMatrixSize = 256     // combinations of one matrix
	MaxSteps      = 100_000 // steps after matrix expansion
	MaxRetry      = 10      // retries of one step
)

// Pipeline is a parsed, validated and fully resolved .pipe.yml.
type Pipeline struct {
	File     string     // the name given to Parse or Load
	Version  int        // always 1 today
	Image    string     // default image of the steps; may be empty
	Env      []EnvVar   // top-level env, expanded, in file order
	Secrets  []string   // declared secret names, in file order
	Caches   []Cache    // named caches, in file order
	Services []*Service // services, in file order
	Steps    []*Step    // steps after matrix expansion, in file order
	Graph    *Graph     // the DAG of Steps
}

// EnvVar is one environment variable.
type EnvVar struct {
	Name  string
	Value string
}

// Cache is a named cache volume, persistent across runs, mounted at Path.
type Cache struct {
	Name    string
	Path    string  // absolute path in the container
	Sharing Sharing // how steps running at the same time share it
}

// Sharing says whether steps running at the same time may mount one cache volume.
type Sharing string

// The sharing modes of a cache volume.
const (
	// SharingLocked gives the volume to one step at a time (the default):
	// for tools whose caches break with two writers.
	SharingLocked Sharing = "locked"
	// SharingShared lets every step mount it at once: for tools that make
	// their caches safe for concurrent use (go's build and module caches).
	SharingShared Sharing = "shared"
)

// Network is how a step reaches the network.
type Network string

// The network modes.
const (
	NetworkNone Network = "none" // loopback only, shared with the step's services (the default)
	NetworkHost Network = "host" // the host's network
)

// Step is one step after matrix expansion, with every field resolved.
// Steps share slices (Env, Caches, Services, Secrets) with each other and the
// Pipeline: treat every field as read-only.
type Step struct {
	Name   string        // unique: "build", or "test[go=1.22,os=linux]" for a matrix expansion
	Base   string        // the name in the file: "test"
	Matrix []MatrixValue // this expansion's values, axes in file order; nil without a matrix
	Pos    Pos           // where the step's name is in the file

	Image   string   // the step's image, else the pipeline's
	Run     []string // commands; one element holding the whole script when Script
	Script  bool     // run was a single string (a script), not a list of commands
	Needs   []string // names of the steps this one depends on, expanded, deduplicated, in file order
	Env     []EnvVar // the pipeline's env overridden and extended by the step's, expanded
	Secrets []string // names of the secrets passed to the step as env variables
	Workdir string   // absolute: Workspace, or below it for a relative workdir

	Inputs  []string // workspace globs that key the step cache; nil: the whole workspace
	Outputs []string // workspace globs of what is kept of what the step wrote; nil: everything; empty: nothing
	// OutputsFrom are the steps whose outputs the step sees in its
	// workspace, among those it needs directly or not (expanded names);
	// nil: all of them.
	OutputsFrom []string
	Caches      []Cache // named caches to mount
	// Services to start before the step, in the step's order; they share its
	// network namespace and listen on its loopback.
	Services []*Service

	Timeout      time.Duration // DefaultTimeout unless set
	Retry        int           // extra attempts after a failure
	When         *When         // nil: always run
	RunOn        RunOn         // which outcomes of the steps it needs let it run; RunOnSuccess unless set
	Manual       bool          // skipped unless named on the command line (pipe run NAME)
	Resources    Resources     // zero fields: no limit
	Network      Network       // NetworkNone unless set
	User         string        // user[:group] to run as; empty: the image's
	AllowFailure bool          // a failure does not fail the pipeline
	// AllowExitCodes, when set, allows a failure only when the step exited
	// with one of these codes (AllowFailure is false then): see FailureAllowed.
	AllowExitCodes []int
	Cache          bool // results may come from and go to the step cache (cache: false turns it off)
}

// MatrixValue is one axis value of a matrix expansion.
type MatrixValue struct {
	Axis  string
	Value string
}

// ScriptText returns the text to run with "sh -e -c": the script itself, or
// the commands one per line.
func (s *Step) ScriptText() string { return strings.Join(s.Run, "\n") }

// Argv returns the step's main process: Shell -e -c ScriptText().
func (s *Step) Argv() []string {
	return []string{Shell, "-e", "-c", s.ScriptText()}
}

// Environ returns Env as NAME=VALUE strings.
func (s *Step) Environ() []string { return environ(s.Env) }

func environ(env []EnvVar) []string {
	out := make([]string, len(env))
	for i, e := range env {
		out[i] = e.Name + "=" + e.Value
	}
	return out
}

// Resources are a step's limits. A zero field means no limit.
type Resources struct {
	CPUs    float64 // CPUs' worth of time, e.g. 1.5
	Memory  int64   // bytes
	Pids    int64   // processes and threads
	IORead  int64   // disk read bandwidth, bytes per second
	IOWrite int64   // disk write bandwidth, bytes per second
}

// Service is a container started next to a step, in its network namespace.
type Service struct {
	Name  string
	Pos   Pos
	Image string
	Env   []EnvVar // expanded
	// Command overrides the image's command: an argv, or with CommandShell a
	// single shell string run by "sh -c". Empty: the image's entrypoint and cmd.
	Command      []string
	CommandShell bool
	// Args, when set, replace the image's cmd and keep its entrypoint
	// (GitLab's service command); Command wins over it.
	Args []string
	// Aliases are more host names the service is reachable by, besides Name.
	Aliases []string
	// WaitPorts waits, after the ready check if any, until the TCP ports
	// the image exposes accept connections (at most ServicePortWait, then
	// the step starts anyway), as GitLab's runner waits for its services.
	WaitPorts bool
	Ready     *Ready // nil: ready as soon as it started
}

// Environ returns Env as NAME=VALUE strings.
func (s *Service) Environ() []string { return environ(s.Env) }

// Ready is a service's readiness check: Run is run with "sh -c" inside the
// service's container every Interval, each attempt bounded by Timeout, until it
// exits 0; after Retries failed attempts the service has failed.
type Ready struct {
	Run      string
	Interval time.Duration
	Timeout  time.Duration
	Retries  int
}
