package job

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor"
	"github.com/pipe-run/pipe/isolation"
)

// MaybeKeeper turns the current process into a job's keeper when pipe
// re-executed itself as one (argv[0] KeeperArg0, argv[1] the state dir),
// and never returns then. Call it first thing in main, after
// isolation.MaybeInit. init is the container init of the keeper's runtime
// (isolation.Options.Init; nil: pipe itself), which a job's spec.json does
// not carry.
func MaybeKeeper(init []byte) {
	if len(os.Args) < 2 || os.Args[0] != KeeperArg0 {
		return
	}
	ready := os.NewFile(3, "keeper-ready")
	err := serveJob(os.Args[1], ready, init)
	if err != nil {
		fmt.Fprintf(os.Stderr, "pipe job keeper: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// keeper is a job's keeper process.
type keeper struct {
	dir   string
	job   *resolvedJob
	init  []byte // the runtime's container init (Options.Init)
	store *cache.Store
	lease *cache.Lease
	rt    *isolation.Runtime
	ns    *isolation.NetNS
	net   isolation.Network
	hosts map[string]string

	ctx    context.Context
	cancel context.CancelFunc

	mu         sync.Mutex
	containers map[string]*keptContainer
	services   []*jobService
	runs       int
	notes      []string // for the job's log, sent with the start report
}

// note records what the job's log should tell, and logs it.
func (k *keeper) note(format string, a ...any) {
	msg := fmt.Sprintf(format, a...)
	fmt.Fprintln(os.Stderr, "pipe job keeper:", msg)
	k.mu.Lock()
	k.notes = append(k.notes, msg)
	k.mu.Unlock()
}

// keptContainer is a running container of the job and its process defaults.
type keptContainer struct {
	c         *isolation.Container
	env       []string
	dir, user string
}

// serveJob starts the job's services and containers, tells the creating
// process over ready, and serves requests until the job is destroyed.
func serveJob(dir string, ready *os.File, init []byte) error {
	k, err := startKeeper(dir, init)
	if err != nil {
		reportReady(ready, err, nil)
		if k != nil {
			k.teardown()
		}
		return err
	}
	ln, err := k.listen()
	if err != nil {
		reportReady(ready, err, nil)
		k.teardown()
		return err
	}
	reportReady(ready, nil, k.notes)
	k.serve(ln)
	err = k.teardown()
	if errors.Is(k.ctx.Err(), context.DeadlineExceeded) {
		// Its runner never destroyed it: nothing of it may stay.
		fmt.Fprintf(os.Stderr, "pipe job keeper: job %s outlived its %s: destroyed\n", k.job.Spec.Name, k.job.Spec.MaxLife)
		err = errors.Join(err, os.RemoveAll(dir))
	}
	return err
}

// reportReady writes the keeper's start result for the creating process.
func reportReady(ready *os.File, err error, notes []string) {
	rep := jobReply{Notes: notes}
	if err != nil {
		rep.Error = err.Error()
	}
	b, _ := json.Marshal(rep)
	_, _ = ready.Write(b)
	ready.Close()
}

func startKeeper(dir string, init []byte) (*keeper, error) {
	job, err := readResolvedJob(dir)
	if err != nil {
		return nil, err
	}
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE)
	k := &keeper{dir: dir, job: job, init: init, containers: map[string]*keptContainer{}, hosts: map[string]string{}}
	k.ctx, k.cancel = context.WithCancel(context.Background())
	if job.Spec.MaxLife > 0 {
		k.ctx, k.cancel = context.WithTimeout(context.Background(), job.Spec.MaxLife)
	}
	if err := k.open(); err != nil {
		return k, err
	}
	return k, k.start()
}

func readResolvedJob(dir string) (*resolvedJob, error) {
	b, err := os.ReadFile(filepath.Join(dir, "spec.json"))
	if err != nil {
		return nil, err
	}
	var job resolvedJob
	if err := json.Unmarshal(b, &job); err != nil {
		return nil, fmt.Errorf("%s/spec.json: %w", dir, err)
	}
	return &job, nil
}

// open takes the store lease and the container runtime.
func (k *keeper) open() error {
	var err error
	if k.store, err = cache.Open(k.job.Store); err != nil {
		return err
	}
	if k.lease, err = k.store.Lease(k.ctx); err != nil {
		return err
	}
	var ids []string
	for _, c := range k.job.Containers {
		if c.Digest != "" {
			ids = append(ids, c.Digest)
		}
	}
	for _, s := range k.job.Services {
		ids = append(ids, s.Digest)
	}
	if err := k.lease.Add(ids...); err != nil {
		return err
	}
	opts := k.job.Runtime.options()
	opts.Init = k.init
	if k.init != nil {
		opts.InitKey = isolation.ExecutableKey()
	}
	if opts.IODevicePath == "" {
		opts.IODevicePath = k.job.Store
	}
	k.rt, err = isolation.New(opts)
	return err
}

// start makes the network, then the services, then the containers.
func (k *keeper) start() error {
	k.net = isolation.Network{Mode: isolation.NetworkHost}
	if k.job.Spec.Network == "private" {
		ns, err := k.rt.NewNetNS(k.job.Spec.Name + "-net")
		if err != nil {
			return fmt.Errorf("network namespace: %w", err)
		}
		k.ns, k.net = ns, isolation.Network{Mode: isolation.NetworkJoin, Path: ns.Path}
	}
	for _, s := range k.job.Services {
		for _, a := range s.Aliases {
			k.hosts[a] = "127.0.0.1"
		}
	}
	for i := range k.job.Services {
		if err := k.startService(&k.job.Services[i]); err != nil {
			return err
		}
	}
	if err := k.waitServices(); err != nil {
		return err
	}
	for i := range k.job.Containers {
		if err := k.startContainer(&k.job.Containers[i]); err != nil {
			return err
		}
	}
	return nil
}

// startContainer starts one of the job's containers, its main process a
// no-op that leaves it up for Exec (KeepAlive).
func (k *keeper) startContainer(rc *resolvedContainer) error {
	spec, kc, err := k.containerSpec(rc, "-"+rc.Name)
	if err != nil {
		return err
	}
	spec.KeepAlive = true
	spec.Process.Args = []string{"/bin/sh", "-c", ":"}
	c, err := k.rt.Start(k.ctx, spec)
	if err != nil {
		return fmt.Errorf("container %s: %w", rc.Name, err)
	}
	kc.c = c
	k.mu.Lock()
	k.containers[rc.Name] = kc
	k.mu.Unlock()
	res, err := c.Wait()
	if err != nil {
		return fmt.Errorf("container %s: %w", rc.Name, err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("container %s: /bin/sh -c : exited %d: the image needs a /bin/sh", rc.Name, res.ExitCode)
	}
	return nil
}

// containerSpec is the isolation spec of a job container.
func (k *keeper) containerSpec(rc *resolvedContainer, suffix string) (*isolation.Spec, *keptContainer, error) {
	kc := &keptContainer{env: executor.ContainerEnv(rc.Config, rc.Env...),
		dir: cmp.Or(rc.Dir, executor.ImageWorkdir(rc.Config)), user: rc.User}
	if kc.user == "" && rc.Config != nil {
		kc.user = rc.Config.Config.User
	}
	spec := &isolation.Spec{
		ID: k.job.Spec.Name + suffix, Root: isolation.Overlay{Lower: rc.Layers},
		Hosts: k.hosts, Network: k.net, Limits: k.job.Spec.Limits,
		Process: isolation.Process{Env: kc.env, Dir: kc.dir, User: kc.user},
	}
	if rc.HostNetwork {
		spec.Network = isolation.Network{Mode: isolation.NetworkHost}
	}
	if spec.Network.Mode == isolation.NetworkHost {
		// On the host's network the host's names resolve too (a GitLab
		// server named in the host's /etc/hosts), as with Docker's host mode.
		spec.Hosts = withHostNames(k.hosts)
	}
	if rc.HostTools {
		root, mounts, err := hostToolsRoot(filepath.Join(k.dir, "hostroot"), rc.HostFiles)
		if err != nil {
			return nil, nil, fmt.Errorf("container %s: %w", rc.Name, err)
		}
		spec.Root.Lower, spec.Mounts = []string{root}, mounts
	}
	spec.Mounts = append(spec.Mounts, k.existingMounts(rc.Name, rc.Mounts)...)
	if rc.KeepRoot {
		d := filepath.Join(k.dir, rc.Name)
		spec.Root.Upper, spec.Root.Work = filepath.Join(d, "upper"), filepath.Join(d, "work")
		for _, p := range []string{spec.Root.Upper, spec.Root.Work} {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return nil, nil, err
			}
		}
	}
	return spec, kc, nil
}

// existingMounts drops bind mounts whose source is missing (a runner's
// system mounts need not all exist).
func (k *keeper) existingMounts(name string, ms []isolation.Mount) []isolation.Mount {
	var out []isolation.Mount
	for _, m := range ms {
		if m.Type == isolation.MountBind {
			if _, err := os.Stat(m.Source); err != nil {
				k.note("container %s: mount of %s on %s skipped: %v", name, m.Source, m.Target, errors.Unwrap(err))
				continue
			}
		}
		out = append(out, m)
	}
	return out
}

// listen opens the socket and records the keeper.
func (k *keeper) listen() (*net.UnixListener, error) {
	sock := filepath.Join(k.dir, "keeper.sock")
	os.Remove(sock)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: sock, Net: "unixpacket"})
	if err != nil {
		return nil, fmt.Errorf("keeper socket: %w", err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	id, err := selfIdentity()
	if err == nil {
		err = writeJSONAtomic(filepath.Join(k.dir, "keeper.json"), id)
	}
	if err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

// stopAll destroys the containers, then the services and the network.
func (k *keeper) stopAll() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	var errs []error
	for name, kc := range k.containers {
		if err := kc.c.Destroy(); err != nil {
			errs = append(errs, fmt.Errorf("container %s: %w", name, err))
		}
		delete(k.containers, name)
	}
	for _, sv := range k.services {
		errs = append(errs, sv.c.Destroy())
		<-sv.done
	}
	k.services = nil
	if k.ns != nil {
		errs = append(errs, k.ns.Close())
		k.ns = nil
	}
	return errors.Join(errs...)
}

// teardown releases everything the keeper holds.
func (k *keeper) teardown() error {
	k.cancel()
	errs := []error{k.stopAll()}
	if k.rt != nil {
		errs = append(errs, k.rt.Close())
	}
	if k.lease != nil {
		k.lease.Release()
	}
	os.Remove(filepath.Join(k.dir, "keeper.sock"))
	os.Remove(filepath.Join(k.dir, "keeper.json"))
	return errors.Join(errs...)
}

// runGrace is how long a container of Job.Run gets between SIGTERM and
// SIGKILL when its client asks it to stop.
const runGrace = 10 * time.Second
