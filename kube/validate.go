package kube

import (
	"errors"
	"fmt"
	"math"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// StepError is a Step that cannot become a pod; Field names what is wrong.
type StepError struct {
	Step  string
	Field string
	Err   error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("kubernetes: step %q: %s: %v", e.Step, e.Field, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// validate checks s; agent says whether the agent containers are part of
// the pod (they need a repository).
func (s *Step) validate(agent bool) error {
	bad := func(field string, format string, a ...any) error {
		return &StepError{Step: s.Name, Field: field, Err: fmt.Errorf(format, a...)}
	}
	switch {
	case s.Name == "":
		return bad("name", "empty")
	case s.ID == "":
		return bad("id", "empty: the executor must give every attempt a pod name base")
	case s.Image == "" || strings.ContainsAny(s.Image, " \t\n"):
		return bad("image", "%q is not an image reference", s.Image)
	case len(s.Args) == 0:
		return bad("args", "empty: nothing to run")
	case s.CPU < 0 || math.IsNaN(s.CPU) || math.IsInf(s.CPU, 0):
		return bad("cpu", "%v is not a number of cores >= 0", s.CPU)
	case s.Memory < 0:
		return bad("memory", "%d bytes is negative", s.Memory)
	case s.Timeout < 0:
		return bad("timeout", "%s is negative", s.Timeout)
	case agent && s.Repo == "":
		return bad("repo", "empty: the agents need the cache repository")
	}
	if _, err := parseUser(s.User); err != nil {
		return bad("user", "%w", err)
	}
	if agent {
		if _, err := parseRepo(s.Repo, s.Insecure); err != nil {
			return bad("repo", "%w", err)
		}
	}
	return s.validateLists()
}

// validateLists checks the env, secrets, layers and services.
func (s *Step) validateLists() error {
	for _, kv := range s.Env {
		if err := checkEnvEntry(kv); err != nil {
			return &StepError{Step: s.Name, Field: "env", Err: err}
		}
	}
	for name := range s.Secrets {
		if !isEnvName(name) {
			// The name only: a secret's value never goes into an error.
			return &StepError{Step: s.Name, Field: "secrets", Err: fmt.Errorf("%q is not an environment variable name", name)}
		}
	}
	for i, l := range s.Workspace {
		if err := l.check(); err != nil {
			return &StepError{Step: s.Name, Field: fmt.Sprintf("workspace layer %d", i), Err: err}
		}
	}
	if err := checkScratch(s.Scratch); err != nil {
		return &StepError{Step: s.Name, Field: "scratch", Err: err}
	}
	return checkServices(s.Name, s.Services)
}

// checkScratch refuses scratch dirs that are not clean absolute paths, or
// that would hide the workspace or the agent's dir.
func checkScratch(dirs []string) error {
	seen := map[string]bool{}
	for _, d := range dirs {
		switch {
		case !path.IsAbs(d) || path.Clean(d) != d || d == "/":
			return fmt.Errorf("%q is not a clean absolute path below /", d)
		case within(d, MountWorkspace) || within(d, MountPipe) || within(MountWorkspace, d) || within(MountPipe, d):
			return fmt.Errorf("%q would cover %s or %s, or lie in them", d, MountWorkspace, MountPipe)
		case seen[d]:
			return fmt.Errorf("%q twice", d)
		}
		seen[d] = true
	}
	return nil
}

// within reports whether p is dir or below it.
func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// checkEnvEntry checks one KEY=VALUE.
func checkEnvEntry(kv string) error {
	name, _, ok := strings.Cut(kv, "=")
	if !ok {
		return fmt.Errorf("%q is not KEY=VALUE", name)
	}
	if !isEnvName(name) {
		return fmt.Errorf("%q is not an environment variable name", name)
	}
	return nil
}

// isEnvName is the C identifier rule pipe's pipelines use for variables.
func isEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}

// Compiled on first use, not in every pipe process's start.
var (
	digestRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^sha256:[0-9a-f]{64}$`) })
	// hostRe is a host name as /etc/hosts and the API server's hostAliases
	// validation take it (a DNS-1123 subdomain, matched in lower case).
	hostRe = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	})
)

// check validates a layer's descriptor: it becomes part of the agent's
// spec and, for a diff, a path in the coordinator's store.
func (l Layer) check() error {
	switch {
	case !digestRe().MatchString(l.Digest):
		return fmt.Errorf("digest %q is not sha256:<64 hex>", l.Digest)
	case !digestRe().MatchString(l.DiffID):
		return fmt.Errorf("diffID %q is not sha256:<64 hex>", l.DiffID)
	case l.Size <= 0:
		return fmt.Errorf("size %d is not positive", l.Size)
	case !isLayerMediaType(l.MediaType):
		return fmt.Errorf("media type %q is not an OCI or Docker layer's", l.MediaType)
	}
	return nil
}

// isLayerMediaType accepts the OCI and Docker layer media types (the
// agent tells the codec by the bytes; the type must only be sane).
func isLayerMediaType(mt string) bool {
	if len(mt) > 255 || strings.ContainsAny(mt, " \t\n\"\\") {
		return false
	}
	return strings.HasPrefix(mt, "application/vnd.oci.image.layer.") || strings.HasPrefix(mt, "application/vnd.docker.image.rootfs.")
}

// checkServices checks names (they become host names and container
// names), images and probes.
func checkServices(step string, svcs []Service) error {
	hosts := map[string]string{}
	for _, sv := range svcs {
		bad := func(format string, a ...any) error {
			return &StepError{Step: step, Field: fmt.Sprintf("service %q", sv.Name), Err: fmt.Errorf(format, a...)}
		}
		switch {
		case sv.Image == "" || strings.ContainsAny(sv.Image, " \t\n"):
			return bad("%q is not an image reference", sv.Image)
		case sv.Port < 0 || sv.Port > 65535:
			return bad("port %d is not a TCP port", sv.Port)
		case sv.ReadyInterval < 0 || sv.ReadyTimeout < 0 || sv.ReadyRetries < 0:
			return bad("the ready check's interval, timeout and retries must not be negative")
		}
		for _, kv := range sv.Env {
			if err := checkEnvEntry(kv); err != nil {
				return bad("env: %w", err)
			}
		}
		for _, h := range append([]string{sv.Name}, sv.Aliases...) {
			if err := addHost(hosts, h, sv.Name); err != nil {
				return bad("%w", err)
			}
		}
	}
	return nil
}

// addHost records host name h of service svc, refusing what a pod's hosts
// file cannot hold and names two services share.
func addHost(hosts map[string]string, h, svc string) error {
	l := strings.ToLower(h)
	if len(l) > 253 || !hostRe().MatchString(l) {
		return fmt.Errorf("%q cannot be a host name in a pod: use letters, digits, '-' and '.'", h)
	}
	if other, dup := hosts[l]; dup && other != svc {
		return fmt.Errorf("host name %q is also service %q's", h, other)
	}
	hosts[l] = svc
	return nil
}

// podUser is the numeric user a container runs as.
type podUser struct {
	UID, GID *int64 // nil: the image's
}

// parseUser reads "uid" or "uid:gid". A pod cannot name a user: the
// kubelet does not look names up in the image for runAsUser.
func parseUser(u string) (podUser, error) {
	if u == "" {
		return podUser{}, nil
	}
	uidS, gidS, hasGID := strings.Cut(u, ":")
	uid, err := parseID(uidS)
	if err != nil {
		return podUser{}, fmt.Errorf("%q: a pod needs a numeric user (runAsUser): give it as uid or uid:gid, e.g. 1000:1000", u)
	}
	out := podUser{UID: &uid}
	if hasGID {
		gid, err := parseID(gidS)
		if err != nil {
			return podUser{}, fmt.Errorf("%q: a pod needs a numeric group (runAsGroup): give it as uid:gid, e.g. 1000:1000", u)
		}
		out.GID = &gid
	}
	return out, nil
}

// parseID reads a uid or gid in [0, 2^31).
func parseID(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt32 {
		return 0, errors.New("not a number in [0, 2147483647]")
	}
	return n, nil
}
