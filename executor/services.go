package executor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/isolation"
	"github.com/pipe-run/pipe/pipeline"
)

// Services are started per step: each step that names services gets its own
// instances, in a network namespace of its own (Runtime.NewNetNS) that the
// services and then the step join. So a service listens on the step's
// loopback, is reachable by its name (every service name resolves to
// 127.0.0.1 in the step's and the services' /etc/hosts), two steps never see
// each other's services or data, and nothing outlives the step: after the
// step's container has ended its services are destroyed and the namespace is
// closed. It costs a start per step; sharing services across steps would
// make steps depend on each other's side effects.
//
// A step with network host runs its services on the host network too (no
// namespace is made); they still resolve by name to 127.0.0.1.
//
// Readiness: a service with a ready check is checked by running the check
// with "sh -c" inside the service's container (Container.Exec) every
// interval, each check bounded by its timeout, until it exits 0. If the
// service exits first, or the checks run out, the step fails with the
// service's last lines of output. Service output goes to the events of a
// step named "svc/<name>" when Options.ServiceLogs is set.

// serviceTailLines is how much of a failed service's output its error shows.
const serviceTailLines = 20

// serviceError is a service that failed before its step could run.
type serviceError struct {
	Step, Service string
	Msg           string
	Tail          []string
}

func (e *serviceError) Error() string {
	s := fmt.Sprintf("service %s of step %s: %s", e.Service, e.Step, e.Msg)
	if len(e.Tail) > 0 {
		s += "; its last output:\n  " + strings.Join(e.Tail, "\n  ")
	}
	return s
}

// serviceSet is the services of one step's attempt.
type serviceSet struct {
	step string
	ns   NetNS
	list []*service
	log  *runlog.StepLog // the step's log, for pipe lines
}

// service is one running service.
type service struct {
	def    *pipeline.Service
	env    []string
	c      Container
	log    *runlog.StepLog
	exited chan struct{}
	res    isolation.Result
	err    error
	ports  []string // TCP ports to wait for (wait_ports)
}

// startServices starts the step's services and points spec at their network.
// The returned set is never nil; stop it when the step is over.
func (r *run) startServices(ctx context.Context, st *stepState, spec *isolation.Spec, log *runlog.StepLog) (*serviceSet, error) {
	set := &serviceSet{step: st.step.Name, log: log}
	if len(st.step.Services) == 0 {
		return set, nil
	}
	net := isolation.Network{Mode: isolation.NetworkHost}
	if st.step.Network != pipeline.NetworkHost {
		ns, err := r.o.Runtime.NewNetNS(r.containerID(st.step, st.attempt, "-net"))
		if err != nil {
			return set, fmt.Errorf("step %s: network namespace for its services: %w", st.step.Name, err)
		}
		set.ns = ns
		net = isolation.Network{Mode: isolation.NetworkJoin, Path: ns.Path()}
	}
	hosts := map[string]string{}
	for _, svc := range st.step.Services {
		for _, h := range svc.HostNames() {
			hosts[h] = "127.0.0.1"
		}
	}
	spec.Network, spec.Hosts = net, hosts
	for _, def := range st.step.Services {
		sv, err := r.startService(ctx, st, def, net, hosts)
		if err != nil {
			set.stop()
			return set, err
		}
		set.list = append(set.list, sv)
	}
	return set, nil
}

// startService starts one service container.
func (r *run) startService(ctx context.Context, st *stepState, def *pipeline.Service, net isolation.Network, hosts map[string]string) (*service, error) {
	img := r.images[def.Image]
	args := serviceArgs(def, img.Config)
	if len(args) == 0 {
		return nil, fmt.Errorf("%s: service %s: image %s has no command: set command:", def.Pos, def.Name, def.Image)
	}
	env := WithDefaultPath(DedupEnv(append(imageEnv(img.Config), def.Environ()...)))
	var emit func(runlog.Event)
	if r.o.ServiceLogs {
		emit = func(e runlog.Event) { e.Attempt = st.attempt; r.emit(e) }
	}
	sv := &service{def: def, env: env, log: runlog.NewStepLog("svc/"+def.Name, r.masker, emit, nil), exited: make(chan struct{})}
	if def.WaitPorts {
		sv.ports = exposedPorts(img.Config)
	}
	spec := &isolation.Spec{
		ID:       r.containerID(st.step, st.attempt, "-svc-"+def.Name),
		Root:     isolation.Overlay{Lower: img.Layers},
		Hostname: def.Name,
		Hosts:    hosts,
		Network:  net,
		Process: isolation.Process{Args: args, Env: env, Dir: ImageWorkdir(img.Config),
			User: imageUser(img), Stdout: sv.log, Stderr: sv.log},
	}
	c, err := r.o.Runtime.Start(ctx, spec)
	if err != nil {
		sv.log.Close()
		return nil, fmt.Errorf("step %s: start service %s: %w", st.step.Name, def.Name, err)
	}
	sv.c = c
	go func() {
		sv.res, sv.err = c.Wait()
		close(sv.exited)
	}()
	return sv, nil
}

// waitReady waits until every service passes its ready check.
func (s *serviceSet) waitReady(ctx context.Context) error {
	for _, sv := range s.list {
		if err := sv.waitReady(ctx, s.step); err != nil {
			return err
		}
		if err := s.waitPorts(ctx, sv); err != nil {
			return err
		}
		s.log.Note("service %s is ready", sv.def.Name)
	}
	return nil
}

// waitReady runs the service's ready check until it passes.
func (sv *service) waitReady(ctx context.Context, step string) error {
	rd := sv.def.Ready
	if rd == nil {
		return sv.exitedEarly(step)
	}
	interval, timeout, tries := orDur(rd.Interval, pipeline.DefaultReadyInterval), orDur(rd.Timeout, pipeline.DefaultReadyTimeout), rd.Retries
	if tries < 1 {
		tries = pipeline.DefaultReadyRetries
	}
	for i := 0; i < tries; i++ {
		if sv.check(ctx, timeout) {
			return nil
		}
		if err := sv.exitedEarly(step); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-sv.exited:
			return sv.exitedEarly(step)
		case <-time.After(interval):
		}
	}
	return &serviceError{Step: step, Service: sv.def.Name, Tail: sv.log.Tail(serviceTailLines),
		Msg: fmt.Sprintf("not ready after %d checks of %q, %s apart", tries, rd.Run, interval)}
}

// check runs the ready check once.
func (sv *service) check(ctx context.Context, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res, err := sv.c.Exec(ctx, isolation.Process{Args: []string{pipeline.Shell, "-c", sv.def.Ready.Run}, Env: sv.env, Dir: "/"})
	return err == nil && res.ExitCode == 0 && !res.TimedOut && !res.Canceled
}

// exitedEarly returns an error when the service has already exited.
func (sv *service) exitedEarly(step string) error {
	select {
	case <-sv.exited:
	default:
		return nil
	}
	msg := fmt.Sprintf("exited with code %d before it was ready", sv.res.ExitCode)
	if sv.err != nil {
		msg = fmt.Sprintf("failed before it was ready: %v", sv.err)
	}
	return &serviceError{Step: step, Service: sv.def.Name, Msg: msg, Tail: sv.log.Tail(serviceTailLines)}
}

// stop destroys the services and closes their namespace.
func (s *serviceSet) stop() error {
	var errs []error
	for _, sv := range s.list {
		errs = append(errs, sv.c.Destroy())
		<-sv.exited
		sv.log.Close()
	}
	s.list = nil
	if s.ns != nil {
		errs = append(errs, s.ns.Close())
		s.ns = nil
	}
	return errors.Join(errs...)
}

func orDur(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
