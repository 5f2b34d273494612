package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	apierrors "github.com/pipe-run/pipe/kube/internal/k8s/apierrors"
	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	metav1 "github.com/pipe-run/pipe/kube/internal/k8s/metav1"
	"github.com/pipe-run/pipe/kube/internal/k8s/types"
)

// deadlineSlack is how long after the pod's own deadline (counted from
// its start) Run stops waiting for the kubelet to enforce it and deletes
// the pod itself; logWait bounds the wait for the rest of the log once the
// step has ended.
const (
	deadlineSlack = 30 * time.Second
	logWait       = 30 * time.Second
)

// attempt is one Run: one pod and what is known of it.
type attempt struct {
	b        *Backend
	s        *Step
	pod      string
	uid      types.UID
	agent    bool
	services map[string]string // sidecar container -> service name
	policy   bool              // a NetworkPolicy was made
	events   *podEvents
	notes    []string

	stepEnded atomic.Bool
	logsDone  chan struct{} // closed when the log streamer returned; nil if never started
	phase     corev1.PodPhase
	started   time.Time // when the kubelet first reported the pod started (local clock)
	fits      *fitCheck
	wg        sync.WaitGroup // the watches and the log streamer
	ended     *Result        // the step ended, pipe-push has not reported yet
	pushGuard *time.Timer    // fires Backend.pushWait after ended was set
}

// Run runs one attempt of s as a pod and returns how it ended. It always
// deletes the pod before it returns (also when ctx is canceled or its
// deadline passes: Result.Canceled, Result.TimedOut, no error).
//
// The error is a *StepError for a Step that cannot be a pod, a *PodError
// for a pipe-side failure (with a Result whose Detail repeats it, and
// ExitCode, Node and Diff as far as known), or an API error. Run is safe
// for concurrent use.
func (b *Backend) Run(ctx context.Context, s *Step) (*Result, error) {
	a := &attempt{b: b, s: s, agent: !b.cfg.noAgent, events: newPodEvents(), services: map[string]string{}}
	if err := s.validate(a.agent); err != nil {
		return nil, err
	}
	for _, sv := range s.Services {
		a.services[serviceContainerName(sv.Name)] = sv.Name
	}
	if s.Pids > 0 {
		a.notes = append(a.notes, fmt.Sprintf("pids limit %d not applied: Kubernetes limits pids per node (the kubelet's podPidsLimit), not per pod", s.Pids))
	}
	defer a.cleanup()
	if err := a.create(ctx); err != nil {
		if ctx.Err() != nil {
			return a.interrupted(ctx, nil), nil
		}
		return nil, err
	}
	return a.follow(ctx)
}

// create makes the Secret's entries, the NetworkPolicy and the pod.
func (a *attempt) create(ctx context.Context) error {
	b, s := a.b, a.s
	a.pod = podName(s.ID)
	owner, err := b.ensureSecret(ctx, secretEnvData(a.pod, s.Secrets))
	if err != nil {
		return err
	}
	in := podInput{step: s, name: a.pod, runID: b.cfg.RunID, secret: secretName(b.cfg.RunID),
		agentImage: b.cfg.AgentImage, hasCA: len(b.cfg.RegistryCA) > 0, noAgent: !a.agent, host: b.host}
	if s.NetworkNone {
		if in.hosts, err = a.createPolicy(ctx, owner); err != nil {
			return err
		}
	}
	pod, err := buildPod(in)
	if err != nil {
		return err
	}
	pod.OwnerReferences = secretOwner(b.cfg.RunID, owner)
	created, err := b.client.createPod(ctx, b.ns, pod)
	if err != nil {
		return fmt.Errorf("kubernetes: %s: step %q: create pod %s in namespace %s: %w", b.where, s.Name, a.pod, b.ns, err)
	}
	a.uid = created.UID
	return nil
}

// createPolicy makes the step's deny-all NetworkPolicy before its pod
// exists, and returns the registry's name -> address for the pod's
// hostAliases (without network there is no DNS).
func (a *attempt) createPolicy(ctx context.Context, owner types.UID) (map[string]string, error) {
	b := a.b
	addr, err := parseRepo(a.s.Repo, a.s.Insecure)
	if err != nil {
		return nil, &StepError{Step: a.s.Name, Field: "repo", Err: err}
	}
	ips, err := b.resolve(ctx, addr)
	if err != nil {
		return nil, &StepError{Step: a.s.Name, Field: "network", Err: err}
	}
	np := buildNetworkPolicy(a.pod, b.cfg.RunID, b.host, ips, addr.Ports)
	np.OwnerReferences = secretOwner(b.cfg.RunID, owner)
	if err := b.client.createNetworkPolicy(ctx, b.ns, np); err != nil {
		return nil, fmt.Errorf("kubernetes: %s: step %q: create NetworkPolicy %s: %w", b.where, a.s.Name, a.pod, err)
	}
	a.policy = true
	if len(ips) > 0 && ips[0].String() != addr.Host {
		return map[string]string{addr.Host: ips[0].String()}, nil
	}
	return nil, nil
}

// secretOwner makes the run's Secret the owner of an object, so that the
// garbage collector removes the object when the Secret goes (Close, Prune).
func secretOwner(runID string, uid types.UID) []metav1.OwnerReference {
	if uid == "" {
		return nil
	}
	return []metav1.OwnerReference{{APIVersion: "v1", Kind: "Secret", Name: secretName(runID), UID: uid}}
}

// follow watches the pod until the step ended, failed, or ctx ended.
func (a *attempt) follow(ctx context.Context) (*Result, error) {
	// Every goroutine of the attempt ends before Run returns: no Events
	// call for it comes later.
	wctx, stop := context.WithCancel(ctx)
	defer a.wg.Wait()
	defer stop()
	snaps := make(chan podSnap, 1)
	a.wg.Add(2)
	go func() { defer a.wg.Done(); a.watchPod(wctx, snaps) }()
	go func() { defer a.wg.Done(); a.watchEvents(wctx) }()
	guard, push := stoppedTimer(), stoppedTimer()
	defer guard.Stop()
	defer push.Stop()
	a.pushGuard = push
	for {
		select {
		case <-ctx.Done():
			return a.interrupted(ctx, nil), nil
		case <-guard.C:
			return a.finish(ctx, &Result{TimedOut: true, ExitCode: 137}, nil)
		case <-push.C:
			return a.finish(ctx, a.ended, &failure{reason: "pipe-push did not report", message: fmt.Sprintf("no report %s after the step ended", a.b.pushWait), container: ContainerPush})
		case snap := <-snaps:
			if snap.gone {
				return a.vanished(ctx, snap.pod)
			}
			if res, err, done := a.look(wctx, snap.pod, guard); done {
				return res, err
			}
		}
	}
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// look judges one snapshot of the pod; done says Run is over. ctx ends
// when Run returns (it bounds the log streamer).
func (a *attempt) look(ctx context.Context, pod *corev1.Pod, guard *time.Timer) (*Result, error, bool) {
	a.notePhase(pod)
	a.armGuard(pod, guard)
	v := judge(pod, a.services, a.agent)
	if v.running || v.result != nil || v.ended != nil {
		a.startLogs(ctx)
	}
	if v.ended != nil && a.ended == nil {
		a.ended = v.ended
		a.stepEnded.Store(true) // the log can be finished while pipe-push stops
		a.pushGuard.Reset(a.b.pushWait)
	}
	if v.fail != nil && v.fail.unschedulable {
		if a.mayFitLater(ctx, pod) {
			return nil, nil, false
		}
		v.fail.reason, v.fail.unschedulable = "unschedulable: no node can ever run it", false
	}
	if !v.final() {
		return nil, nil, false
	}
	res, err := a.finish(ctx, v.result, v.fail)
	return res, err, true
}

// finish waits for the rest of the log and turns a failure into a
// *PodError with the pod's events.
func (a *attempt) finish(ctx context.Context, res *Result, f *failure) (*Result, error) {
	a.stepEnded.Store(true)
	a.waitLogs()
	if res == nil {
		res = &Result{ExitCode: -1}
	}
	res.Notes = a.notes
	if f == nil {
		return res, nil
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	pe := &PodError{Step: a.s.Name, Pod: a.pod, Namespace: a.b.ns, Reason: f.reason, Message: f.message, Detail: a.detail(dctx, f)}
	res.Detail = pe.Reason + ": " + pe.Message + "\n" + pe.Detail
	return res, pe
}

// detail is the pod's events and the log tail of the container at fault.
func (a *attempt) detail(ctx context.Context, f *failure) string {
	a.refreshEvents(ctx)
	out := ""
	if ev := a.events.describe(); ev != "" {
		out += "events:\n" + ev
	}
	if f.container != "" {
		if tail := a.b.logTail(ctx, a.pod, f.container, 20); tail != "" {
			out += fmt.Sprintf("log of %s (last lines):\n%s\n", f.container, indent(tail))
		}
	}
	return out
}

// interrupted is the Result of a Run whose ctx ended: Canceled, or
// TimedOut for a passed deadline. The pod is deleted by cleanup.
func (a *attempt) interrupted(ctx context.Context, pod *corev1.Pod) *Result {
	a.stepEnded.Store(true)
	res := &Result{ExitCode: 137, Notes: a.notes}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		res.TimedOut = true
	} else {
		res.Canceled = true
	}
	if pod != nil {
		res.Node = pod.Spec.NodeName
	}
	return res
}

// vanished handles the pod's deletion by someone else: judged by its last
// state if the step had ended, a failure otherwise.
func (a *attempt) vanished(ctx context.Context, last *corev1.Pod) (*Result, error) {
	if last != nil {
		if v := judge(last, a.services, a.agent); v.result != nil {
			return a.finish(ctx, v.result, v.fail)
		}
	}
	return a.finish(ctx, nil, deletedFailure())
}

// notePhase reports phase changes.
func (a *attempt) notePhase(pod *corev1.Pod) {
	if pod.Status.Phase == a.phase || pod.Status.Phase == "" {
		return
	}
	a.phase = pod.Status.Phase
	a.b.notify(Event{Step: a.s.Name, StepID: a.s.ID, Pod: a.pod, Type: EventPhase, Reason: string(a.phase), Message: pod.Status.Message})
}

// armGuard starts Run's own deadline when the pod has started: the pod's
// deadline plus slack, for a kubelet that does not enforce it.
func (a *attempt) armGuard(pod *corev1.Pod, guard *time.Timer) {
	if a.s.Timeout <= 0 || !a.started.IsZero() || pod.Status.StartTime == nil {
		return
	}
	a.started = time.Now()
	guard.Reset(a.s.Timeout + deadlineSlack)
}

// startLogs starts streaming the step's log, once.
func (a *attempt) startLogs(ctx context.Context) {
	if a.logsDone != nil {
		return
	}
	a.logsDone = make(chan struct{})
	out := a.s.Stdout
	if out == nil {
		out = io.Discard
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(a.logsDone)
		if err := a.b.streamLogs(ctx, a.pod, out, a.stepEnded.Load); err != nil {
			// The step runs on; only its output is lost: say so, and what
			// the account pipe runs as lacks.
			a.b.notify(Event{Step: a.s.Name, StepID: a.s.ID, Pod: a.pod, Type: EventWarning, Reason: "LogForbidden",
				Message: fmt.Sprintf("the step's log cannot be read, so it is not shown: %v (pipe needs get on pods/log in namespace %s)", err, a.b.ns)})
		}
	}()
}

// waitLogs waits (bounded) until the log streamer has written everything.
func (a *attempt) waitLogs() {
	if a.logsDone == nil {
		return
	}
	select {
	case <-a.logsDone:
	case <-time.After(logWait):
	}
}

// cleanup deletes the pod, then its NetworkPolicy (once the pod is gone,
// so that its processes never run unfenced), and its secret values, with
// a deadline of its own: it also runs when Run's ctx is canceled.
func (a *attempt) cleanup() {
	if a.pod == "" {
		return
	}
	b := a.b
	ctx, cancel := context.WithTimeout(context.Background(), b.cleanupTimeout)
	defer cancel()
	err := b.client.deletePod(ctx, b.ns, a.pod, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(1))})
	if err != nil && !apierrors.IsNotFound(err) {
		b.notify(Event{Step: a.s.Name, StepID: a.s.ID, Pod: a.pod, Type: EventWarning, Reason: "DeleteFailed", Message: err.Error()})
	}
	if a.policy {
		a.waitGone(ctx)
		_ = b.client.deleteNetworkPolicy(ctx, b.ns, a.pod)
	}
	if err := b.dropSecretEnv(ctx, a.pod, a.s.Secrets); err != nil {
		b.notify(Event{Step: a.s.Name, StepID: a.s.ID, Pod: a.pod, Type: EventWarning, Reason: "SecretCleanupFailed", Message: err.Error()})
	}
}

// waitGone polls until the pod no longer exists or ctx ends.
func (a *attempt) waitGone(ctx context.Context) {
	for ctx.Err() == nil {
		_, err := a.b.client.getPod(ctx, a.b.ns, a.pod)
		if apierrors.IsNotFound(err) {
			return
		}
		sleep(ctx, 250*time.Millisecond)
	}
}

func indent(s string) string {
	out := "  "
	for _, r := range s {
		out += string(r)
		if r == '\n' {
			out += "  "
		}
	}
	return out
}
