package executor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/isolation"
	"github.com/pipe-run/pipe/pipeline"
)

// runContainer runs one attempt's container: volumes, services, the
// container itself, and on success the output layer.
func (r *run) runContainer(ctx context.Context, st *stepState, log *runlog.StepLog) (outcome, error) {
	s := st.step
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	r.restoreVolumes(ctx, s, log)
	mounts, release, err := r.acquireVolumes(ctx, s.Caches, log)
	if err != nil {
		return r.infraFailure(ctx, st, err)
	}
	defer release()
	upper, work, err := r.stagingPair()
	if err != nil {
		return r.infraFailure(ctx, st, err)
	}
	// gone is closed once the step's container is destroyed: its overlay
	// holds upper and work until then.
	var gone <-chan struct{}
	defer func() { r.removeAfter(work, gone) }()
	committed := false
	defer func() {
		if !committed {
			r.removeAfter(upper, gone)
		}
	}()
	spec := r.stepSpec(st, mounts, upper, work)
	dropRoot, err := r.keepableRoot(spec)
	if err != nil {
		return r.infraFailure(ctx, st, err)
	}
	defer dropRoot()
	svcs, err := r.startServices(ctx, st, spec, log)
	if err != nil {
		return r.infraFailure(ctx, st, err)
	}
	defer svcs.stop()
	if err := svcs.waitReady(ctx); err != nil {
		return r.infraFailure(ctx, st, err) // not infra: the step's own service failed
	}
	res, current, gone, err := r.runMain(ctx, spec, st, log)
	if err != nil {
		return r.infraFailure(ctx, st, err)
	}
	st.ran, st.exitCode, st.peak = true, res.ExitCode, res.PeakMemory
	if res.ExitCode != 0 || res.TimedOut || res.Canceled || res.OOMKilled {
		err := stepError(s, res.ExitCode, res.TimedOut, res.OOMKilled, current)
		<-gone // keepFailure moves the container's upper dirs
		r.keepFailure(ctx, st, spec, current, err, log)
		return outcomeFailed, err
	}
	// A step that wrote nothing to /workspace is done now: its container
	// is destroyed while the steps that need it start. What it wrote is
	// kept (and mounted by them) only once its own overlay is gone.
	if !emptyDir(upper) {
		<-gone
	}
	if err := r.keepLayer(st, upper); err != nil {
		committed = true // keepLayer consumed or removed it
		return r.infraFailure(ctx, st, err)
	}
	committed = true
	return outcomeOK, nil
}

// infraFailure records that pipe (not the step's commands) failed.
func (r *run) infraFailure(ctx context.Context, st *stepState, err error) (outcome, error) {
	var se *serviceError
	if !errors.As(err, &se) && ctx.Err() == nil {
		st.infra = true
	}
	st.err = err
	return outcomeFailed, err
}

// stagingPair returns a fresh upper and work dir for the workspace overlay.
func (r *run) stagingPair() (upper, work string, err error) {
	if upper, err = r.o.Store.NewStaging("workspace"); err != nil {
		return "", "", fmt.Errorf("workspace upper dir: %w", err)
	}
	if work, err = r.o.Store.NewScratch("work"); err != nil {
		r.o.Store.RemoveStaging(upper)
		return "", "", fmt.Errorf("workspace work dir: %w", err)
	}
	return upper, work, nil
}

// removeAfter removes a staging dir in the background once after is closed
// (nil: at once): a step's work dir holds a few dirs, and each rmdir on the
// store's disk takes 0.1-0.2 ms that the next step need not wait for. The
// run waits for them when it closes.
func (r *run) removeAfter(dir string, after <-chan struct{}) {
	r.removals.Add(1)
	go func() {
		defer r.removals.Done()
		if after != nil {
			<-after
		}
		r.o.Store.RemoveStaging(dir)
	}()
}

// emptyDir says whether dir has no entries (false when it cannot be read).
func emptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return len(names) == 0 && errors.Is(err, io.EOF)
}

// runMain starts the step's container and streams its output until its main
// process ends. The container is destroyed in the background: gone is
// closed once it is (the run waits for every one before it ends, and
// reports what could not be destroyed). It returns the result and the
// command that ran last.
func (r *run) runMain(ctx context.Context, spec *isolation.Spec, st *stepState, log *runlog.StepLog) (res isolation.Result, current int, gone <-chan struct{}, err error) {
	echo := newCommandEcho(r.marker, st.step.Run, log, log.Note)
	spec.Process.Stdout, spec.Process.Stderr = echo, echo
	c, err := r.o.Runtime.Start(ctx, spec)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return isolation.Result{TimedOut: true, ExitCode: 128 + 9}, 0, closedChan, nil // the timeout covers the start too
	}
	if err != nil {
		return isolation.Result{}, 0, closedChan, fmt.Errorf("step %s: start container: %w", st.step.Name, err)
	}
	res, werr := c.Wait()
	echo.Flush()
	gone = r.destroyLater(st.step.Name, c)
	if werr != nil {
		<-gone
		return res, 0, gone, fmt.Errorf("step %s: container: %w", st.step.Name, werr)
	}
	return res, echo.Current(), gone, nil
}

// closedChan is a closed channel: nothing to wait for.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// destroyLater destroys c in the background; the returned channel is closed
// once it is. Errors are kept for destroyErr.
func (r *run) destroyLater(step string, c Container) <-chan struct{} {
	done := make(chan struct{})
	r.destroys.Add(1)
	go func() {
		defer r.destroys.Done()
		defer close(done)
		if err := c.Destroy(); err != nil {
			r.destroyMu.Lock()
			r.destroyErrs = append(r.destroyErrs, fmt.Errorf("step %s: destroy container: %w", step, err))
			r.destroyMu.Unlock()
		}
	}()
	return done
}

// destroyErr waits for every container destroyLater started and returns
// what could not be destroyed.
func (r *run) destroyErr() error {
	r.destroys.Wait()
	r.destroyMu.Lock()
	defer r.destroyMu.Unlock()
	return errors.Join(r.destroyErrs...)
}

// stepSpec builds the step's container: the image's layers as root, the
// workspace overlay (snapshot, then the output layers of every step it needs,
// upper dir fresh), its cache volumes, env, user, network and limits.
func (r *run) stepSpec(st *stepState, volumes []isolation.Mount, upper, work string) *isolation.Spec {
	s := st.step
	img := r.images[s.Image]
	// Volatile: the upper dir is on the store's disk, and unmounting a plain
	// overlay syncs that whole filesystem at every step's end (~2 ms here).
	// What is kept of it is made durable by CommitResult (syncfs) or is
	// discarded; the work dir is never reused.
	ws := isolation.Mount{Type: isolation.MountOverlay, Target: pipeline.Workspace,
		Overlay: isolation.Overlay{Lower: r.workspaceLowers(st), Upper: upper, Work: work, Volatile: true}}
	spec := &isolation.Spec{
		ID:     r.containerID(s, st.attempt, ""),
		Root:   isolation.Overlay{Lower: img.Layers},
		Mounts: append([]isolation.Mount{ws}, volumes...),
		Process: isolation.Process{
			Args: []string{pipeline.Shell, "-e", "-c", stepScript(s, r.marker)},
			Env:  r.stepEnv(s, img),
			Dir:  s.Workdir,
			User: firstNonEmpty(s.User, imageUser(img)),
		},
		Network: isolation.Network{Mode: isolation.NetworkNone},
		Limits:  limitsOf(s.Resources),
	}
	if spec.Process.Dir == "" {
		spec.Process.Dir = pipeline.Workspace
	}
	if s.Network == pipeline.NetworkHost {
		spec.Network = isolation.Network{Mode: isolation.NetworkHost}
	}
	return spec
}

// workspaceLowers returns the snapshot, then the output layers of the steps
// st needs, directly or not, in run (topological) order: a step's layer lies
// above the layers of what it needs, and between independent steps the one
// first in the file is lower, so the later one wins, the same on every run.
func (r *run) workspaceLowers(st *stepState) []string {
	lowers := []string{r.ws.Dir()}
	for _, i := range r.ancestors(st.step) {
		if from := st.step.OutputsFrom; from != nil && !slices.Contains(from, r.steps[i].Name) {
			continue // outputs_from leaves it out
		}
		if l := r.states[i].layer; l != "" {
			lowers = append(lowers, l)
		}
	}
	return lowers
}

// stepEnv is the image's env, under the step's (pipeline env merged with the
// step's), under --env, then the step's secrets; PATH gets a default.
func (r *run) stepEnv(s *pipeline.Step, img *cache.Image) []string {
	env := append(imageEnv(img.Config), s.Environ()...)
	env = append(env, r.o.Env...)
	for _, name := range s.Secrets {
		env = append(env, name+"="+r.o.Secrets[name])
	}
	return WithDefaultPath(DedupEnv(env))
}

// defaultPath is the PATH of a step whose image and pipeline set none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ContainerEnv is the env of a process in a container of image config c:
// the image's env, then env, each name's last value kept, and PATH set.
func ContainerEnv(c *v1.ConfigFile, env ...string) []string {
	return WithDefaultPath(DedupEnv(append(imageEnv(c), env...)))
}

// WithDefaultPath adds a PATH to env when it has none.
func WithDefaultPath(env []string) []string {
	for _, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			return env
		}
	}
	return append(env, "PATH="+defaultPath)
}

// DedupEnv keeps the last value of each name, at the position of its first.
func DedupEnv(env []string) []string {
	pos := map[string]int{}
	out := make([]string, 0, len(env))
	for _, e := range env {
		name := e
		if i := strings.IndexByte(e, '='); i >= 0 {
			name = e[:i]
		}
		if p, ok := pos[name]; ok {
			out[p] = e
			continue
		}
		pos[name] = len(out)
		out = append(out, e)
	}
	return out
}

// imageEnv is the image config's env.
func imageEnv(c *v1.ConfigFile) []string {
	if c == nil {
		return nil
	}
	return append([]string(nil), c.Config.Env...)
}

// ImageWorkdir is the image config's working dir, else "/".
func ImageWorkdir(c *v1.ConfigFile) string {
	if c == nil || c.Config.WorkingDir == "" {
		return "/"
	}
	return c.Config.WorkingDir
}

// serviceArgs is a service's argv: its command, else the image's
// entrypoint and cmd.
func serviceArgs(def *pipeline.Service, c *v1.ConfigFile) []string {
	switch {
	case def.CommandShell && len(def.Command) > 0:
		return []string{pipeline.Shell, "-c", def.Command[0]}
	case len(def.Command) > 0:
		return def.Command
	case c == nil:
		return nil
	case len(def.Args) > 0:
		return append(append([]string(nil), c.Config.Entrypoint...), def.Args...)
	}
	return append(append([]string(nil), c.Config.Entrypoint...), c.Config.Cmd...)
}

func imageUser(img *cache.Image) string {
	if img.Config == nil {
		return ""
	}
	return img.Config.Config.User
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// limitsOf maps a step's resources to container limits.
func limitsOf(res pipeline.Resources) isolation.Limits {
	return isolation.Limits{Memory: res.Memory, CPUs: res.CPUs, Pids: res.Pids,
		IOReadBPS: res.IORead, IOWriteBPS: res.IOWrite}
}

// ancestors returns the positions in r.steps of every step s needs,
// directly or not, in run order.
func (r *run) ancestors(s *pipeline.Step) []int {
	seen := map[int]bool{}
	stack := append([]string(nil), s.Needs...)
	for len(stack) > 0 {
		name := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		i := r.index[name]
		if seen[i] {
			continue
		}
		seen[i] = true
		stack = append(stack, r.steps[i].Needs...)
	}
	out := make([]int, 0, len(seen))
	for i := range seen {
		out = append(out, i)
	}
	sort.Ints(out)
	return out
}

// addCleanup registers f to run when the run ends; safe for concurrent use.
func (r *run) addCleanup(f func()) {
	r.cleanupMu.Lock()
	defer r.cleanupMu.Unlock()
	r.cleanup = append(r.cleanup, f)
}
