package github

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/job"
	"github.com/pipe-run/pipe/isolation"
)

// Hook runs the runner's hook commands on this host.
type Hook struct {
	Store *cache.Store
	// RunnerName is the runner's name (RUNNER_NAME): its jobs are named
	// after it, and a new job removes what an earlier one left.
	RunnerName string
	Runtime    isolation.Options
	Stdout     *os.File // the step log
	Stderr     *os.File
	Signals    <-chan syscall.Signal // the runner's SIGINT/SIGTERM on cancel
}

// StepError is a step whose process exited non-zero: the hook exits with
// its code, which the runner reports as the step's.
type StepError struct{ Code int }

func (e *StepError) Error() string { return fmt.Sprintf("the step exited with code %d", e.Code) }

// Run runs one command.
func (h *Hook) Run(ctx context.Context, in *Input) error {
	switch in.Command {
	case "prepare_job":
		return h.prepareJob(ctx, in)
	case "run_script_step":
		return h.runScriptStep(ctx, in)
	case "run_container_step":
		return h.runContainerStep(ctx, in)
	case "cleanup_job":
		return h.cleanupJob(ctx, in)
	}
	return fmt.Errorf("unknown hook command %q (want prepare_job, run_script_step, run_container_step or cleanup_job)", in.Command)
}

// prepareJob creates the job: services (by context name), then the job
// container with the runner's mounts; it answers with the state, the
// containers and isAlpine.
func (h *Hook) prepareJob(ctx context.Context, in *Input) error {
	var a PrepareJobArgs
	if err := in.args(&a); err != nil {
		return err
	}
	prefix := jobPrefix(h.RunnerName)
	if err := h.pruneJobs(ctx, prefix); err != nil {
		return err
	}
	name := prefix + randomHex(6)
	spec := &job.Spec{Name: name}
	kc := keychain{}
	for i, s := range a.Services {
		if s.Image == "" {
			return fmt.Errorf("prepare_job: service %d (%s) has no image", i+1, s.ContextName)
		}
		kc.add(s.Registry)
		aliases := []string{}
		if s.ContextName != "" {
			aliases = append(aliases, s.ContextName)
		}
		spec.Services = append(spec.Services, job.Service{Name: fmt.Sprintf("s%d", i), Image: s.Image, Aliases: aliases,
			Entrypoint: entrypoint(s), Command: s.EntryPointArgs, Env: env(s.EnvironmentVariables)})
		h.noteOptions(s)
	}
	if c := a.Container; c != nil {
		if c.Image == "" {
			return errors.New("prepare_job: the job container has no image")
		}
		kc.add(c.Registry)
		spec.Containers = append(spec.Containers, h.jobContainer("job", c))
		h.noteOptions(*c)
	}
	o := job.Options{Store: h.Store, Runtime: h.Runtime, Keychain: kc}
	j, err := job.Create(ctx, spec, o)
	if err != nil {
		return err
	}
	for _, n := range j.Notes {
		fmt.Fprintf(h.Stderr, "pipe: warning: %s\n", n)
	}
	resp := &Response{State: &State{Job: name}, Context: &ResponseContext{Services: []ContainerInfo{}}}
	for i, s := range a.Services {
		resp.Context.Services = append(resp.Context.Services, ContainerInfo{ID: name + "-s" + fmt.Sprint(i), Network: "host", Ports: portsOf(s)})
	}
	if c := a.Container; c != nil {
		resp.Context.Container = &ContainerInfo{ID: name + "-job", Network: "host", Ports: portsOf(*c)}
		if resp.IsAlpine, err = isAlpine(ctx, j); err != nil {
			return errors.Join(err, j.Destroy(context.Background()))
		}
	}
	if err := writeResponse(in.ResponseFile, resp); err != nil {
		return errors.Join(err, j.Destroy(context.Background()))
	}
	return nil
}

// jobPrefix names the jobs of one runner: a runner runs one job at a time,
// so a job of its name that is there when prepare_job comes is a leftover
// (the runner died, or never called cleanup_job), as the Docker hook
// prunes its runner's labelled containers.
func jobPrefix(runner string) string {
	var b strings.Builder
	for _, c := range []byte(runner) {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' {
			b.WriteByte(c)
		}
		if b.Len() == 40 {
			break
		}
	}
	if b.Len() == 0 {
		return "gha-"
	}
	return "gha-" + b.String() + "."
}

// pruneJobs destroys the jobs an earlier prepare_job of this runner left.
func (h *Hook) pruneJobs(ctx context.Context, prefix string) error {
	names, err := job.List(h.Store)
	if err != nil {
		return err
	}
	for _, n := range names {
		rest, ok := strings.CutPrefix(n, prefix)
		if !ok || len(rest) != 12 || strings.ContainsAny(rest, ".") {
			continue
		}
		fmt.Fprintf(h.Stderr, "pipe: removing job %s, left by an earlier job of this runner\n", n)
		if err := job.Destroy(ctx, h.Store, n); err != nil {
			return err
		}
	}
	return nil
}

// jobContainer is the executor container of a HookContainer.
func (h *Hook) jobContainer(name string, c *Container) job.Container {
	e := append(env(c.EnvironmentVariables), "GITHUB_ACTIONS=true", "CI=true")
	return job.Container{Name: name, Image: c.Image, Env: e, Dir: c.WorkingDirectory,
		Mounts: mounts(append(append([]Mount(nil), c.SystemMountVolumes...), c.UserMountVolumes...))}
}

// noteOptions says what of a container's options pipe does not apply.
func (h *Hook) noteOptions(c Container) {
	if strings.TrimSpace(c.CreateOptions) != "" {
		fmt.Fprintf(h.Stderr, "pipe: container %s: options %q are not applied (pipe is not Docker)\n", firstOf(c.ContextName, c.Image), c.CreateOptions)
	}
}

// mounts are the runner's volumes: a path is bind-mounted (a missing one
// skipped), a named volume is a dir of the job's own.
func mounts(list []Mount) []isolation.Mount {
	var out []isolation.Mount
	for _, m := range list {
		if m.TargetVolumePath == "" || !strings.HasPrefix(m.TargetVolumePath, "/") {
			continue
		}
		src := m.SourceVolumePath
		if !filepath.IsAbs(src) {
			src = filepath.Join("volumes", strings.ReplaceAll(src, "/", "_"))
		}
		out = append(out, isolation.Mount{Type: isolation.MountBind, Source: src, Target: m.TargetVolumePath, ReadOnly: m.ReadOnly})
	}
	return out
}

func entrypoint(c Container) []string {
	if c.EntryPoint == "" {
		return nil
	}
	return []string{c.EntryPoint}
}

// portsOf maps each container port to itself: the containers share the
// host's network.
func portsOf(c Container) map[string]string {
	ports := map[string]string{}
	for _, p := range containerPorts(c.PortMappings) {
		ports[p] = p
	}
	return ports
}

// isAlpine says whether the job container's image is Alpine's (the runner
// then uses its musl build of node).
func isAlpine(ctx context.Context, j *job.Job) (bool, error) {
	res, err := j.Exec(ctx, "job", job.Process{Args: []string{"/bin/sh", "-c", "test -f /etc/alpine-release"}, Dir: "/"})
	if err != nil {
		return false, err
	}
	return res.ExitCode == 0, nil
}

// runScriptStep runs the step's entry point in the job container.
func (h *Hook) runScriptStep(ctx context.Context, in *Input) error {
	var a ScriptStepArgs
	if err := in.args(&a); err != nil {
		return err
	}
	if a.EntryPoint == "" {
		return errors.New("run_script_step: no entryPoint")
	}
	j, err := h.openJob(in)
	if err != nil {
		return err
	}
	res, err := j.Exec(ctx, "job", job.Process{Args: append([]string{a.EntryPoint}, a.EntryPointArgs...),
		Env: env(a.EnvironmentVariables), PrependPath: a.PrependPath, Dir: a.WorkingDirectory,
		Stdout: h.Stdout, Stderr: h.Stderr, Signals: h.Signals})
	if err != nil {
		return err
	}
	return exitOf(res)
}

// runContainerStep runs a container step's image on the job's network.
func (h *Hook) runContainerStep(ctx context.Context, in *Input) error {
	var c Container
	if err := in.args(&c); err != nil {
		return err
	}
	if c.Image == "" {
		if c.Dockerfile != "" {
			return fmt.Errorf("run_container_step: the action is built from %s: pipe does not build images yet; publish the action's image and use it (uses: docker://IMAGE)", c.Dockerfile)
		}
		return errors.New("run_container_step: no image")
	}
	j, err := h.openJob(in)
	if err != nil {
		return err
	}
	h.noteOptions(c)
	kc := keychain{}
	kc.add(c.Registry)
	jc := h.jobContainer("step", &c)
	jc.Entrypoint, jc.Args = entrypoint(c), c.EntryPointArgs
	res, err := j.Run(ctx, jc, job.Process{Stdout: h.Stdout, Stderr: h.Stderr, Signals: h.Signals},
		job.Options{Store: h.Store, Keychain: kc})
	if err != nil {
		return err
	}
	return exitOf(res)
}

// cleanupJob destroys the job: nothing of it is left.
func (h *Hook) cleanupJob(ctx context.Context, in *Input) error {
	if in.State == nil || in.State.Job == "" {
		return nil // prepare_job never got as far as a job
	}
	return job.Destroy(ctx, h.Store, in.State.Job)
}

func (h *Hook) openJob(in *Input) (*job.Job, error) {
	if in.State == nil || in.State.Job == "" {
		return nil, fmt.Errorf("%s: the runner passed no state of prepare_job: the job has no container", in.Command)
	}
	return job.Open(h.Store, in.State.Job)
}

func exitOf(res isolation.Result) error {
	if res.ExitCode != 0 {
		return &StepError{Code: res.ExitCode}
	}
	return nil
}

// writeResponse writes the response file the runner created.
func writeResponse(path string, r *Response) error {
	if path == "" {
		return errors.New("the runner gave no responseFile")
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("responseFile: %w", err)
	}
	_, err = f.Write(b)
	return errors.Join(err, f.Close())
}

// keychain holds the registry logins of the job's containers.
type keychain map[string]authn.AuthConfig

func (k keychain) add(r *Registry) {
	if r == nil || r.Username == "" {
		return
	}
	host := strings.TrimPrefix(strings.TrimPrefix(r.ServerURL, "https://"), "http://")
	host, _, _ = strings.Cut(host, "/")
	if host == "" {
		host = name.DefaultRegistry // Docker's default registry
	}
	k[host] = authn.AuthConfig{Username: r.Username, Password: r.Password}
}

// Resolve implements authn.Keychain.
func (k keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if ac, ok := k[r.RegistryStr()]; ok {
		return authn.FromConfig(ac), nil
	}
	return authn.DefaultKeychain.Resolve(r)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func sortStrings(s []string) { sort.Strings(s) }

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
