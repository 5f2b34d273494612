package kube

import (
	"context"
	"io"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// typedClient is apiClient over a typed clientset: the tests' way to run
// kube on client-go's fake clientset (the binary uses restClient, without
// the clientset's package inits).
type typedClient struct{ c kubernetes.Interface }

var _ apiClient = typedClient{}

func (t typedClient) getNamespace(ctx context.Context, name string) error {
	_, err := t.c.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	return err
}

func (t typedClient) listNodes(ctx context.Context) (*corev1.NodeList, error) {
	return t.c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
}

func (t typedClient) createPod(ctx context.Context, ns string, p *corev1.Pod) (*corev1.Pod, error) {
	return t.c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
}

func (t typedClient) getPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	return t.c.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
}

func (t typedClient) deletePod(ctx context.Context, ns, name string, opts metav1.DeleteOptions) error {
	return t.c.CoreV1().Pods(ns).Delete(ctx, name, opts)
}

func (t typedClient) listPods(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.PodList, error) {
	return t.c.CoreV1().Pods(ns).List(ctx, opts)
}

func (t typedClient) watchPods(ctx context.Context, ns string, opts metav1.ListOptions) (watch.Interface, error) {
	return t.c.CoreV1().Pods(ns).Watch(ctx, opts)
}

func (t typedClient) podLogs(ctx context.Context, ns, name string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	return t.c.CoreV1().Pods(ns).GetLogs(name, opts).Stream(ctx)
}

func (t typedClient) createSecret(ctx context.Context, ns string, s *corev1.Secret) (*corev1.Secret, error) {
	return t.c.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{})
}

func (t typedClient) getSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return t.c.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
}

func (t typedClient) patchSecret(ctx context.Context, ns, name string, mergePatch []byte) error {
	_, err := t.c.CoreV1().Secrets(ns).Patch(ctx, name, types.MergePatchType, mergePatch, metav1.PatchOptions{})
	return err
}

func (t typedClient) deleteSecret(ctx context.Context, ns, name string) error {
	return t.c.CoreV1().Secrets(ns).Delete(ctx, name, metav1.DeleteOptions{})
}

func (t typedClient) listSecrets(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.SecretList, error) {
	return t.c.CoreV1().Secrets(ns).List(ctx, opts)
}

func (t typedClient) createNetworkPolicy(ctx context.Context, ns string, np *networkingv1.NetworkPolicy) error {
	_, err := t.c.NetworkingV1().NetworkPolicies(ns).Create(ctx, np, metav1.CreateOptions{})
	return err
}

func (t typedClient) deleteNetworkPolicy(ctx context.Context, ns, name string) error {
	return t.c.NetworkingV1().NetworkPolicies(ns).Delete(ctx, name, metav1.DeleteOptions{})
}

func (t typedClient) listNetworkPolicies(ctx context.Context, ns string, opts metav1.ListOptions) (*networkingv1.NetworkPolicyList, error) {
	return t.c.NetworkingV1().NetworkPolicies(ns).List(ctx, opts)
}

func (t typedClient) listEvents(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.EventList, error) {
	return t.c.CoreV1().Events(ns).List(ctx, opts)
}

func (t typedClient) watchEvents(ctx context.Context, ns string, opts metav1.ListOptions) (watch.Interface, error) {
	return t.c.CoreV1().Events(ns).Watch(ctx, opts)
}
