package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"

	kcorev1 "k8s.io/api/core/v1"
	knetworkingv1 "k8s.io/api/networking/v1"
	kerrors "k8s.io/apimachinery/pkg/api/errors"
	kmetav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	ktypes "k8s.io/apimachinery/pkg/types"
	kwatch "k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/pipe-run/pipe/kube/internal/k8s/apierrors"
	"github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	"github.com/pipe-run/pipe/kube/internal/k8s/metav1"
	"github.com/pipe-run/pipe/kube/internal/k8s/networkingv1"
	"github.com/pipe-run/pipe/kube/internal/k8s/watch"
)

// typedClient is apiClient over a typed clientset: the tests' way to run
// kube on client-go's fake clientset. Every object crosses between kube's
// own API types and client-go's through JSON, which also checks that the
// two are wire-compatible: a field kube sets that upstream does not know,
// or spells differently, is lost on the way and fails the tests.
type typedClient struct{ c kubernetes.Interface }

var _ apiClient = typedClient{}

// convert is in encoded as JSON and decoded into a new Out: between
// kube's API types and client-go's. It panics on an error, which only a
// test's bug can cause.
func convert[Out any](in any) *Out {
	b, err := json.Marshal(in)
	if err != nil {
		panic(fmt.Sprintf("encode %T: %v", in, err))
	}
	out := new(Out)
	if err := json.Unmarshal(b, out); err != nil {
		panic(fmt.Sprintf("decode %T into %T: %v", in, out, err))
	}
	return out
}

// result converts a clientset's answer and its error.
func result[Out any](in any, err error) (*Out, error) {
	if err != nil {
		return nil, convertError(err)
	}
	return convert[Out](in), nil
}

// convertError makes client-go's StatusError kube's.
func convertError(err error) error {
	var st kerrors.APIStatus
	if err == nil || !errors.As(err, &st) {
		return err
	}
	return &apierrors.StatusError{ErrStatus: *convert[metav1.Status](st.Status())}
}

func listOpts(o metav1.ListOptions) kmetav1.ListOptions { return *convert[kmetav1.ListOptions](o) }

func (t typedClient) getNamespace(ctx context.Context, name string) error {
	_, err := t.c.CoreV1().Namespaces().Get(ctx, name, kmetav1.GetOptions{})
	return convertError(err)
}

func (t typedClient) listNodes(ctx context.Context) (*corev1.NodeList, error) {
	l, err := t.c.CoreV1().Nodes().List(ctx, kmetav1.ListOptions{})
	return result[corev1.NodeList](l, err)
}

func (t typedClient) createPod(ctx context.Context, ns string, p *corev1.Pod) (*corev1.Pod, error) {
	out, err := t.c.CoreV1().Pods(ns).Create(ctx, convert[kcorev1.Pod](p), kmetav1.CreateOptions{})
	return result[corev1.Pod](out, err)
}

func (t typedClient) getPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	out, err := t.c.CoreV1().Pods(ns).Get(ctx, name, kmetav1.GetOptions{})
	return result[corev1.Pod](out, err)
}

func (t typedClient) deletePod(ctx context.Context, ns, name string, opts metav1.DeleteOptions) error {
	return convertError(t.c.CoreV1().Pods(ns).Delete(ctx, name, *convert[kmetav1.DeleteOptions](opts)))
}

func (t typedClient) listPods(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.PodList, error) {
	l, err := t.c.CoreV1().Pods(ns).List(ctx, listOpts(opts))
	return result[corev1.PodList](l, err)
}

func (t typedClient) watchPods(ctx context.Context, ns string, opts metav1.ListOptions) (watch.Interface, error) {
	return convertWatch(t.c.CoreV1().Pods(ns).Watch(ctx, listOpts(opts)))
}

func (t typedClient) podLogs(ctx context.Context, ns, name string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	r, err := t.c.CoreV1().Pods(ns).GetLogs(name, convert[kcorev1.PodLogOptions](opts)).Stream(ctx)
	return r, convertError(err)
}

func (t typedClient) createSecret(ctx context.Context, ns string, s *corev1.Secret) (*corev1.Secret, error) {
	out, err := t.c.CoreV1().Secrets(ns).Create(ctx, convert[kcorev1.Secret](s), kmetav1.CreateOptions{})
	return result[corev1.Secret](out, err)
}

func (t typedClient) getSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	out, err := t.c.CoreV1().Secrets(ns).Get(ctx, name, kmetav1.GetOptions{})
	return result[corev1.Secret](out, err)
}

func (t typedClient) patchSecret(ctx context.Context, ns, name string, mergePatch []byte) error {
	_, err := t.c.CoreV1().Secrets(ns).Patch(ctx, name, ktypes.MergePatchType, mergePatch, kmetav1.PatchOptions{})
	return convertError(err)
}

func (t typedClient) deleteSecret(ctx context.Context, ns, name string) error {
	return convertError(t.c.CoreV1().Secrets(ns).Delete(ctx, name, kmetav1.DeleteOptions{}))
}

func (t typedClient) listSecrets(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.SecretList, error) {
	l, err := t.c.CoreV1().Secrets(ns).List(ctx, listOpts(opts))
	return result[corev1.SecretList](l, err)
}

func (t typedClient) createNetworkPolicy(ctx context.Context, ns string, np *networkingv1.NetworkPolicy) error {
	_, err := t.c.NetworkingV1().NetworkPolicies(ns).Create(ctx, convert[knetworkingv1.NetworkPolicy](np), kmetav1.CreateOptions{})
	return convertError(err)
}

func (t typedClient) deleteNetworkPolicy(ctx context.Context, ns, name string) error {
	return convertError(t.c.NetworkingV1().NetworkPolicies(ns).Delete(ctx, name, kmetav1.DeleteOptions{}))
}

func (t typedClient) listNetworkPolicies(ctx context.Context, ns string, opts metav1.ListOptions) (*networkingv1.NetworkPolicyList, error) {
	l, err := t.c.NetworkingV1().NetworkPolicies(ns).List(ctx, listOpts(opts))
	return result[networkingv1.NetworkPolicyList](l, err)
}

func (t typedClient) listEvents(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.EventList, error) {
	l, err := t.c.CoreV1().Events(ns).List(ctx, listOpts(opts))
	return result[corev1.EventList](l, err)
}

func (t typedClient) watchEvents(ctx context.Context, ns string, opts metav1.ListOptions) (watch.Interface, error) {
	return convertWatch(t.c.CoreV1().Events(ns).Watch(ctx, listOpts(opts)))
}

// convertWatch is a client-go watch as kube's, its objects converted.
func convertWatch(w kwatch.Interface, err error) (watch.Interface, error) {
	if err != nil {
		return nil, convertError(err)
	}
	out := &convertedWatch{w: w, ch: make(chan watch.Event), done: make(chan struct{})}
	go out.run()
	return out, nil
}

type convertedWatch struct {
	w    kwatch.Interface
	ch   chan watch.Event
	once sync.Once
	done chan struct{}
}

func (c *convertedWatch) Stop() {
	c.once.Do(func() { close(c.done) })
	c.w.Stop()
}

func (c *convertedWatch) ResultChan() <-chan watch.Event { return c.ch }

func (c *convertedWatch) run() {
	defer close(c.ch)
	for ev := range c.w.ResultChan() {
		select {
		case c.ch <- watch.Event{Type: watch.EventType(ev.Type), Object: convertObject(ev.Object)}:
		case <-c.done:
			return
		}
	}
}

// convertObject is one of client-go's objects as kube's.
func convertObject(o any) any {
	switch o := o.(type) {
	case *kcorev1.Pod:
		return convert[corev1.Pod](o)
	case *kcorev1.Event:
		return convert[corev1.Event](o)
	case *kmetav1.Status:
		return convert[metav1.Status](o)
	}
	panic(fmt.Sprintf("convertObject: %T", o))
}

// The requests only tests make, in kube's types.

func (t typedClient) getNetworkPolicy(ctx context.Context, ns, name string) (*networkingv1.NetworkPolicy, error) {
	out, err := t.c.NetworkingV1().NetworkPolicies(ns).Get(ctx, name, kmetav1.GetOptions{})
	return result[networkingv1.NetworkPolicy](out, err)
}

func (t typedClient) createEvent(ctx context.Context, ns string, e *corev1.Event) (*corev1.Event, error) {
	out, err := t.c.CoreV1().Events(ns).Create(ctx, convert[kcorev1.Event](e), kmetav1.CreateOptions{})
	return result[corev1.Event](out, err)
}

func (t typedClient) updatePodStatus(ctx context.Context, ns string, p *corev1.Pod) (*corev1.Pod, error) {
	out, err := t.c.CoreV1().Pods(ns).UpdateStatus(ctx, convert[kcorev1.Pod](p), kmetav1.UpdateOptions{})
	return result[corev1.Pod](out, err)
}

// upstream is one of kube's objects as client-go's, for the fake
// clientset's initial objects.
func upstream(o any) kruntime.Object {
	switch o := o.(type) {
	case *corev1.Pod:
		return convert[kcorev1.Pod](o)
	case *corev1.Secret:
		return convert[kcorev1.Secret](o)
	case *corev1.Node:
		return convert[kcorev1.Node](o)
	case *corev1.Namespace:
		return convert[kcorev1.Namespace](o)
	case *networkingv1.NetworkPolicy:
		return convert[knetworkingv1.NetworkPolicy](o)
	case *corev1.Event:
		return convert[kcorev1.Event](o)
	}
	panic(fmt.Sprintf("upstream: %T", o))
}

// typed is c as an apiClient, for tests that read and write the cluster
// in kube's types.
func typed(c kubernetes.Interface) typedClient { return typedClient{c} }

// upstreamStatus is s as client-go's, for a fake watch's ERROR event.
func upstreamStatus(s *metav1.Status) *kmetav1.Status { return convert[kmetav1.Status](s) }
