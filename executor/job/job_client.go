package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/isolation"
)

// Job is a handle on a running job, from Create or Open. Its methods
// are safe for concurrent use; the job lives on when the handle's process
// ends.
type Job struct {
	Name string
	Dir  string // the state dir
	// Notes are what Create's caller should tell its job's log: mounts
	// skipped, services not up (with their last output).
	Notes []string
	store *cache.Store
}

// Create pulls the job's images, starts its keeper (which starts the
// services, then the containers) and returns once everything runs, or with
// the error that kept it from running (then nothing of the job is left).
// The job lives on after the calling process ends, until Destroy.
func Create(ctx context.Context, spec *Spec, o Options) (*Job, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	j := &Job{Name: spec.Name, Dir: Dir(o.Store, spec.Name), store: o.Store}
	if id, err := readKeeper(j.Dir); err == nil && id.alive() {
		return nil, &Error{Job: spec.Name, Op: "create", Err: errors.New("it already runs: destroy it first")}
	}
	if err := Destroy(ctx, o.Store, spec.Name); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(j.Dir, 0o700); err != nil {
		return nil, &Error{Job: spec.Name, Op: "create", Err: err}
	}
	if sock := filepath.Join(j.Dir, "keeper.sock"); len(sock) > 107 {
		os.RemoveAll(j.Dir)
		return nil, &Error{Job: spec.Name, Op: "create", Err: fmt.Errorf("socket path %s is over 107 bytes: use a shorter store path (PIPE_HOME) or job name", sock)}
	}
	err := j.create(ctx, spec, o)
	if err != nil {
		return nil, errors.Join(&Error{Job: spec.Name, Op: "create", Err: err}, Destroy(context.Background(), o.Store, spec.Name))
	}
	return j, nil
}

func (j *Job) create(ctx context.Context, spec *Spec, o Options) error {
	lease, err := o.Store.Lease(ctx)
	if err != nil {
		return err
	}
	defer lease.Release() // the keeper holds a lease of its own once it runs
	job := &resolvedJob{Spec: *spec, Runtime: jobRuntimeOf(o.Runtime), Store: o.Store.Root()}
	for _, c := range spec.Containers {
		c.Mounts, err = stateMounts(j.Dir, c.Mounts)
		if err != nil {
			return err
		}
		rc, err := resolveContainer(ctx, c, o, lease)
		if err != nil {
			return err
		}
		job.Containers = append(job.Containers, rc)
	}
	for _, s := range spec.Services {
		img, err := pullFor(ctx, s.Image, o, lease)
		if err != nil {
			return fmt.Errorf("service %s: %w", s.Name, err)
		}
		job.Services = append(job.Services, resolvedService{Service: s, Digest: img.Digest.String(), Layers: img.Layers, Config: img.Config})
	}
	if err := writeJSONAtomic(filepath.Join(j.Dir, "spec.json"), job); err != nil {
		return err
	}
	timeout := o.StartTimeout
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	return j.startKeeper(ctx, timeout)
}

// stateMounts makes the state dirs that mounts name by a relative Source,
// and gives those mounts their absolute Source.
func stateMounts(dir string, ms []isolation.Mount) ([]isolation.Mount, error) {
	out := append([]isolation.Mount(nil), ms...)
	for i, m := range out {
		if m.Type != isolation.MountBind || filepath.IsAbs(m.Source) {
			continue
		}
		rel := filepath.Clean(m.Source)
		if rel == "." || strings.HasPrefix(rel, "..") {
			return nil, fmt.Errorf("mount %s: source %q: want a dir inside the job's state dir", m.Target, m.Source)
		}
		out[i].Source = filepath.Join(dir, rel)
		if err := os.MkdirAll(out[i].Source, 0o755); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// resolveContainer pulls a container's image.
func resolveContainer(ctx context.Context, c Container, o Options, lease *cache.Lease) (resolvedContainer, error) {
	rc := resolvedContainer{Container: c}
	if c.Image == "" {
		return rc, nil
	}
	img, err := pullFor(ctx, c.Image, o, lease)
	if err != nil {
		return rc, fmt.Errorf("container %s: %w", c.Name, err)
	}
	rc.Digest, rc.Layers, rc.Config = img.Digest.String(), img.Layers, img.Config
	return rc, nil
}

func pullFor(ctx context.Context, ref string, o Options, lease *cache.Lease) (*cache.Image, error) {
	return o.Store.Pull(ctx, ref, cache.PullOptions{Policy: o.Pull, Progress: o.Progress, Keychain: o.Keychain, Lease: lease})
}

// startKeeper re-executes pipe as the job's keeper, in a session of its
// own, and waits for its word that the job runs.
func (j *Job) startKeeper(ctx context.Context, timeout time.Duration) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find pipe's own binary: %w", err)
	}
	logf, err := os.OpenFile(filepath.Join(j.Dir, "keeper.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	cmd := &exec.Cmd{Path: self, Args: []string{KeeperArg0, j.Dir}, Dir: "/", Env: keeperEnv(),
		Stdout: logf, Stderr: logf, ExtraFiles: []*os.File{w}, SysProcAttr: &syscall.SysProcAttr{Setsid: true}}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("start the job's keeper: %w", err)
	}
	pid := cmd.Process.Pid
	go func() { _, _ = cmd.Process.Wait() }() // reap it if it ends while this process lives
	rep, err := readReady(ctx, r, timeout)
	if err == nil && rep.Error != "" {
		err = errors.New(rep.Error)
	}
	if err != nil {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		return fmt.Errorf("%w%s", err, j.logTail())
	}
	j.Notes = rep.Notes
	return nil
}

// keeperEnv is the keeper's environment: the caller's, minus what a
// runner passes for the stage (the job's variables, its secrets among them).
func keeperEnv() []string {
	var env []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "CUSTOM_ENV_") {
			env = append(env, e)
		}
	}
	return env
}

// readReady reads the keeper's start report.
func readReady(ctx context.Context, r *os.File, timeout time.Duration) (jobReply, error) {
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() { b, err := io.ReadAll(r); ch <- result{b, err} }()
	var res result
	select {
	case res = <-ch:
	case <-ctx.Done():
		return jobReply{}, ctx.Err()
	case <-time.After(timeout):
		return jobReply{}, fmt.Errorf("the job's keeper did not start within %s", timeout)
	}
	var rep jobReply
	if res.err != nil || len(res.b) == 0 {
		return rep, errors.New("the job's keeper ended before it started the job")
	}
	if err := json.Unmarshal(res.b, &rep); err != nil {
		return rep, fmt.Errorf("the job's keeper: %w", err)
	}
	return rep, nil
}

// logTail is the end of keeper.log, for an error.
func (j *Job) logTail() string {
	b, err := os.ReadFile(filepath.Join(j.Dir, "keeper.log"))
	if err != nil || len(strings.TrimSpace(string(b))) == 0 {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return "; the keeper's log:\n  " + strings.Join(lines, "\n  ")
}

// Open finds a running job of the store.
func Open(s *cache.Store, name string) (*Job, error) {
	if !validJobName(name) {
		return nil, &Error{Job: name, Op: "open", Err: errors.New("not a valid job name")}
	}
	j := &Job{Name: name, Dir: Dir(s, name), store: s}
	if !jobExists(s, name) {
		return nil, &Error{Job: name, Op: "open", Err: ErrNoJob}
	}
	id, err := readKeeper(j.Dir)
	if err != nil || !id.alive() {
		return nil, &Error{Job: name, Op: "open", Err: fmt.Errorf("its keeper is gone (killed?): destroy the job%s", j.logTail())}
	}
	return j, nil
}

// Exec runs p in the job's container and waits for it. Canceling ctx (or
// the end of the calling process) kills p's group.
func (j *Job) Exec(ctx context.Context, container string, p Process) (isolation.Result, error) {
	req := &jobRequest{Op: opExec, Container: container, Process: procConfig(p)}
	return j.process(ctx, req, p)
}

// Run runs c as a container of its own on the job's network (its image
// pulled by this process, its main process p.Args, else c.Entrypoint and
// c.Args over the image's entrypoint and cmd) and waits for its end. A signal on p.Signals stops it
// gracefully (SIGTERM, then SIGKILL 10 s later).
func (j *Job) Run(ctx context.Context, c Container, p Process, o Options) (isolation.Result, error) {
	if err := c.validate(); err != nil {
		return isolation.Result{}, err
	}
	lease, err := j.store.Lease(ctx)
	if err != nil {
		return isolation.Result{}, err
	}
	defer lease.Release()
	rc, err := resolveContainer(ctx, c, o, lease)
	if err != nil {
		return isolation.Result{}, err
	}
	return j.process(ctx, &jobRequest{Op: opRun, Run: &rc, Process: procConfig(p)}, p)
}

func procConfig(p Process) *jobProcConfig {
	return &jobProcConfig{Args: p.Args, Env: p.Env, PrependPath: p.PrependPath, Dir: p.Dir, User: p.User}
}

// process sends a process request and waits for its result, forwarding
// p.Signals.
func (j *Job) process(ctx context.Context, req *jobRequest, p Process) (isolation.Result, error) {
	files, closeAll, err := stdioFiles(p)
	if err != nil {
		return isolation.Result{}, err
	}
	defer closeAll()
	conn, err := dialKeeper(filepath.Join(j.Dir, "keeper.sock"))
	if err != nil {
		return isolation.Result{}, &Error{Job: j.Name, Op: req.Op, Err: fmt.Errorf("reach its keeper: %w", err)}
	}
	defer conn.Close()
	if err := sendMsg(conn, req, files...); err != nil {
		return isolation.Result{}, &Error{Job: j.Name, Op: req.Op, Err: err}
	}
	closeAll()
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-p.Signals:
				_ = sendMsg(conn, &jobRequest{Op: opSignal, Signal: int(s)})
			case <-ctx.Done():
				conn.CloseWrite() // the keeper kills the process
				return
			case <-done:
				return
			}
		}
	}()
	var rep jobReply
	if _, err := recvMsg(conn, &rep); err != nil {
		return isolation.Result{}, &Error{Job: j.Name, Op: req.Op, Err: fmt.Errorf("its keeper: %w", err)}
	}
	if rep.Error != "" || rep.Result == nil {
		return isolation.Result{}, &Error{Job: j.Name, Op: req.Op, Err: errors.New(rep.Error)}
	}
	return *rep.Result, nil
}

// stdioFiles are p's three files, /dev/null for the missing ones.
func stdioFiles(p Process) ([]*os.File, func(), error) {
	var opened []*os.File
	closeAll := func() { closeFiles(opened); opened = nil }
	files := []*os.File{p.Stdin, p.Stdout, p.Stderr}
	for i, f := range files {
		if f != nil {
			continue
		}
		flag := os.O_WRONLY
		if i == 0 {
			flag = os.O_RDONLY
		}
		n, err := os.OpenFile(os.DevNull, flag, 0)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		opened = append(opened, n)
		files[i] = n
	}
	return files, closeAll, nil
}

// Destroy ends the job: every container and service, its network, and its
// state dir (see Destroy).
func (j *Job) Destroy(ctx context.Context) error { return Destroy(ctx, j.store, j.Name) }

// Destroy removes whatever is left of a job: it asks a live keeper to
// destroy the containers and services, kills a keeper that does not
// answer, removes what a dead keeper left (isolation's cleanup of its
// containers' cgroups and scratch dirs), and removes the state dir. A job
// that is not there is no error.
func Destroy(ctx context.Context, s *cache.Store, name string) error {
	if !validJobName(name) {
		return &Error{Job: name, Op: "destroy", Err: errors.New("not a valid job name")}
	}
	dir := Dir(s, name)
	if !jobExists(s, name) {
		return nil
	}
	var errs []error
	if id, err := readKeeper(dir); err == nil && id.alive() {
		if err := askDestroy(ctx, dir); err != nil {
			errs = append(errs, err)
		}
		waitGone(id, 10*time.Second)
		id.kill()
		waitGone(id, 5*time.Second)
	}
	if job, err := readResolvedJob(dir); err == nil {
		errs = append(errs, cleanupRuntime(job.Runtime.options()))
	}
	if err := os.RemoveAll(dir); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return &Error{Job: name, Op: "destroy", Err: err}
	}
	return nil
}

// askDestroy asks the keeper to destroy the job and waits for its answer.
func askDestroy(ctx context.Context, dir string) error {
	conn, err := dialKeeper(filepath.Join(dir, "keeper.sock"))
	if err != nil {
		return nil // it is killed instead
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(d)
	} else {
		_ = conn.SetDeadline(time.Now().Add(time.Minute))
	}
	if err := sendMsg(conn, &jobRequest{Op: opDestroy}); err != nil {
		return nil
	}
	var rep jobReply
	if _, err := recvMsg(conn, &rep); err == nil && rep.Error != "" {
		return errors.New(rep.Error)
	}
	return nil
}

func waitGone(id keeperIdentity, d time.Duration) {
	for end := time.Now().Add(d); id.alive() && time.Now().Before(end); {
		time.Sleep(20 * time.Millisecond)
	}
}

// cleanupRuntime removes what dead keepers left in the runtime's state
// dir (isolation.New does that as it opens).
func cleanupRuntime(o isolation.Options) error {
	if isolation.Available() != nil {
		return nil
	}
	rt, err := isolation.New(o)
	if err != nil {
		return err
	}
	return rt.Close()
}
