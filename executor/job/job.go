package job

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/isolation"
)

// KeeperArg0 is argv[0] of a pipe re-executed as a job's keeper.
const KeeperArg0 = "pipe-job-keeper"

// Spec describes a job.
type Spec struct {
	// Name names the job's state dir and containers: 1 to 64 of
	// [a-zA-Z0-9_.-], unique among the jobs of a store.
	Name string `json:"name"`
	// Containers stay up (each with a main process that does nothing) until
	// the job is destroyed; Job.Exec runs processes in them by name.
	Containers []Container `json:"containers"`
	// Services start before the containers, each reachable from every
	// container of the job by its aliases (127.0.0.1 in /etc/hosts).
	Services []Service `json:"services,omitempty"`
	// Network is "host" (the default: the host's network, which jobs need to
	// fetch sources and dependencies) or "private" (a network namespace of
	// the job's own with only loopback, shared by its containers and
	// services; containers with HostNetwork stay on the host's).
	Network string `json:"network,omitempty"`
	// Limits bound each container and service.
	Limits isolation.Limits `json:"limits"`
	// MaxLife ends the job (as Destroy does) when it is still there after
	// this long, in case its runner never destroys it. 0: never.
	MaxLife time.Duration `json:"max_life,omitempty"`
}

// Container is one container of a job, or one run by Job.Run.
type Container struct {
	// Name is how Job.Exec names it: 1 to 32 of [a-z0-9-].
	Name string `json:"name"`
	// Image is the image reference; empty with HostTools.
	Image string `json:"image,omitempty"`
	// HostTools makes the root file system of the host's programs instead
	// of an image: /usr, /bin, /sbin, /lib*, and the certificates and
	// alternatives of /etc, all read-only, plus HostFiles. A runner's
	// helper uses it for the host's git and runner binary.
	HostTools bool `json:"host_tools,omitempty"`
	// HostFiles are host files bind-mounted read-only into a HostTools root:
	// container path -> host path.
	HostFiles map[string]string `json:"host_files,omitempty"`
	// Env is set over the image's env, in every process.
	Env []string `json:"env,omitempty"`
	// Mounts are bind mounts (and tmpfs) of the container. A bind mount
	// whose Source is relative names a dir in the job's state dir, made
	// when the job is created and removed with it (a runner's builds dir);
	// a bind mount whose absolute Source is missing is skipped.
	Mounts []isolation.Mount `json:"mounts,omitempty"`
	// Dir and User are the defaults of its processes ("": the image's).
	Dir  string `json:"dir,omitempty"`
	User string `json:"user,omitempty"`
	// HostNetwork keeps the container on the host's network in a private job.
	HostNetwork bool `json:"host_network,omitempty"`
	// KeepRoot puts the root file system's upper dir in the state dir, so
	// that Keep can keep it for pipe debug --last.
	KeepRoot bool `json:"keep_root,omitempty"`
	// Entrypoint and Args are the main process of a container run by
	// Job.Run, as Docker reads them: Entrypoint replaces the image's
	// entrypoint (and drops its cmd), Args replaces the cmd. Containers of
	// the Spec ignore them.
	Entrypoint []string `json:"entrypoint,omitempty"`
	Args       []string `json:"args,omitempty"`
}

// Service is a service of a job.
type Service struct {
	Name       string   `json:"name"` // 1 to 32 of [a-z0-9-]: its container and log
	Image      string   `json:"image"`
	Aliases    []string `json:"aliases,omitempty"`    // host names it answers to
	Entrypoint []string `json:"entrypoint,omitempty"` // nil: the image's
	Command    []string `json:"command,omitempty"`    // nil: the image's cmd (none when Entrypoint is set)
	Env        []string `json:"env,omitempty"`
}

// Options say where a job lives and how its images are pulled.
type Options struct {
	Store    *cache.Store
	Pull     cache.PullPolicy
	Keychain authn.Keychain // registry credentials; nil: the Docker config
	Progress io.Writer      // pull progress and notes; nil: none
	// Runtime configures the keeper's container runtime (the zero value is
	// pipe's default, as pipe run uses it).
	Runtime isolation.Options
	// StartTimeout bounds the keeper's start (its services and
	// containers); 0 means 5 minutes.
	StartTimeout time.Duration
}

// Process is a process to run in a job's container.
type Process struct {
	Args []string
	Env  []string // over the container's env
	// PrependPath are dirs put in front of the container's PATH.
	PrependPath []string
	Dir, User   string // "": the container's
	// Stdin, Stdout and Stderr are passed to the process as they are; nil
	// is /dev/null.
	Stdin, Stdout, Stderr *os.File
	// Signals are forwarded to the process's group while it runs.
	Signals <-chan syscall.Signal
}

// Error is a job that cannot be created, found or used.
type Error struct {
	Job string
	Op  string
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("job %s: %s: %v", e.Job, e.Op, e.Err) }
func (e *Error) Unwrap() error { return e.Err }

// ErrNoJob says a job has no state dir in the store (never created, or
// destroyed).
var ErrNoJob = errors.New("no such job in the store")

// validJobName says whether s may name a job.
func validJobName(s string) bool { return len(s) <= 64 && jobNameOK(s, true) }

// jobNameOK says whether s is 1 to 128 of [a-zA-Z0-9_.-] (any case when
// upper is set, else [a-z0-9-] only, up to 32).
func jobNameOK(s string, upper bool) bool {
	if s == "" || len(s) > 128 || (!upper && len(s) > 32) {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'
		if upper {
			ok = ok || c >= 'A' && c <= 'Z' || c == '_' || c == '.'
		}
		if !ok {
			return false
		}
	}
	return true
}

// validate checks the spec before anything is made.
func (s *Spec) validate() error {
	if !validJobName(s.Name) {
		return fmt.Errorf("job name %q: want 1 to 64 of [a-zA-Z0-9_.-]", s.Name)
	}
	switch s.Network {
	case "", "host", "private":
	default:
		return fmt.Errorf("job %s: network %q: want host or private", s.Name, s.Network)
	}
	seen := map[string]bool{}
	for _, c := range s.Containers {
		if err := c.validate(); err != nil {
			return fmt.Errorf("job %s: %w", s.Name, err)
		}
		if seen[c.Name] {
			return fmt.Errorf("job %s: two containers named %s", s.Name, c.Name)
		}
		seen[c.Name] = true
	}
	for _, sv := range s.Services {
		if !jobNameOK(sv.Name, false) || sv.Image == "" {
			return fmt.Errorf("job %s: service %q (image %q): want a name of [a-z0-9-] and an image", s.Name, sv.Name, sv.Image)
		}
		if seen["svc-"+sv.Name] {
			return fmt.Errorf("job %s: two services named %s", s.Name, sv.Name)
		}
		seen["svc-"+sv.Name] = true
	}
	return nil
}

func (c *Container) validate() error {
	if !jobNameOK(c.Name, false) {
		return fmt.Errorf("container name %q: want 1 to 32 of [a-z0-9-]", c.Name)
	}
	if (c.Image == "") == !c.HostTools {
		return fmt.Errorf("container %s: give an image or HostTools, not both or neither", c.Name)
	}
	return nil
}
