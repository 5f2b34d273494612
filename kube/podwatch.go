package kube

import (
	"context"
	"errors"

	apierrors "github.com/pipe-run/pipe/kube/internal/k8s/apierrors"
	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	metav1 "github.com/pipe-run/pipe/kube/internal/k8s/metav1"
	"github.com/pipe-run/pipe/kube/internal/k8s/watch"
)

// podSnap is one state of the pod, or the news that it is gone (pod is
// then its last known state, or nil).
type podSnap struct {
	pod  *corev1.Pod
	gone bool
}

// errPodGone is the pod's list finding nothing.
var errPodGone = errors.New("pod not found")

// watchPod sends the pod's states to snaps, the newest replacing one not
// read yet, until ctx ends.
func (a *attempt) watchPod(ctx context.Context, snaps chan podSnap) {
	var last *corev1.Pod
	send := func(s podSnap) {
		select {
		case <-snaps:
		default:
		}
		select {
		case snaps <- s:
		case <-ctx.Done():
		}
	}
	lw := a.podListWatch()
	handle := func(t watch.EventType, o any) {
		p, ok := o.(*corev1.Pod)
		if !ok || p.Name != a.pod || (a.uid != "" && p.UID != a.uid) {
			return
		}
		last = p
		send(podSnap{pod: p, gone: t == watch.Deleted})
	}
	onError := func(err error) {
		if errors.Is(err, errPodGone) {
			send(podSnap{pod: last, gone: true})
		}
	}
	watchLoop(ctx, a.b.resync, lw, handle, onError)
}

// podListWatch gets and watches the attempt's pod; a Get that finds none
// is errPodGone.
func (a *attempt) podListWatch() listWatch {
	c, ns := a.b.client, a.b.ns
	return listWatch{
		list: func(ctx context.Context) ([]any, string, error) {
			p, err := c.getPod(ctx, ns, a.pod)
			if apierrors.IsNotFound(err) {
				return nil, "", errPodGone
			}
			if err != nil {
				return nil, "", err
			}
			return []any{p}, p.ResourceVersion, nil
		},
		watch: func(ctx context.Context, rv string) (watch.Interface, error) {
			return c.watchPods(ctx, ns, metav1.ListOptions{
				FieldSelector:   fieldSelector(map[string]string{"metadata.name": a.pod}),
				ResourceVersion: rv,
			})
		},
	}
}

// watchEvents collects the pod's Kubernetes events and reports new
// warnings, until ctx ends.
func (a *attempt) watchEvents(ctx context.Context) {
	c, ns := a.b.client, a.b.ns
	sel := a.eventSelector()
	lw := listWatch{
		list: func(ctx context.Context) ([]any, string, error) {
			l, err := c.listEvents(ctx, ns, metav1.ListOptions{FieldSelector: sel})
			if err != nil {
				return nil, "", err
			}
			out := make([]any, len(l.Items))
			for i := range l.Items {
				out[i] = &l.Items[i]
			}
			return out, l.ResourceVersion, nil
		},
		watch: func(ctx context.Context, rv string) (watch.Interface, error) {
			return c.watchEvents(ctx, ns, metav1.ListOptions{FieldSelector: sel, ResourceVersion: rv})
		},
	}
	watchLoop(ctx, a.b.resync, lw, func(_ watch.EventType, o any) { a.addEvent(o) }, nil)
}

// eventSelector selects the events of this pod.
func (a *attempt) eventSelector() string {
	return fieldSelector(map[string]string{"involvedObject.kind": "Pod", "involvedObject.name": a.pod})
}

// addEvent records one event of the pod and reports it if it is a new
// warning.
func (a *attempt) addEvent(o any) {
	e, ok := o.(*corev1.Event)
	if !ok || e.InvolvedObject.Name != a.pod || e.InvolvedObject.Kind != "Pod" {
		return
	}
	if a.events.add(e) {
		a.b.notify(Event{Time: eventTime(e), Step: a.s.Name, StepID: a.s.ID, Pod: a.pod, Type: EventWarning, Reason: e.Reason, Message: e.Message})
	}
}

// refreshEvents lists the pod's events once more, for a failure's detail
// (the watch may lag behind).
func (a *attempt) refreshEvents(ctx context.Context) {
	l, err := a.b.client.listEvents(ctx, a.b.ns, metav1.ListOptions{FieldSelector: a.eventSelector()})
	if err != nil {
		return
	}
	for i := range l.Items {
		a.addEvent(&l.Items[i])
	}
}
