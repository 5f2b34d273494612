package kube

import (
	"context"
	"io"

	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	metav1 "github.com/pipe-run/pipe/kube/internal/k8s/metav1"
	networkingv1 "github.com/pipe-run/pipe/kube/internal/k8s/networkingv1"
	"github.com/pipe-run/pipe/kube/internal/k8s/watch"
)

// apiClient is every request kube makes of the API server, and nothing
// more. The binary implements it with restClient, over package rest (net/http
// and encoding/json) and kube's own API types (kube/internal/k8s): pipe links
// no k8s.io module, whose package inits and page faults every pipe process
// and every container init would pay (pipe re-executes itself as the init).
// Tests implement it over client-go's fake clientset (typedClient), which
// converts between the two sets of types through JSON.
//
// Methods are safe for concurrent use; ctx bounds each request (for a
// watch or a log stream, the whole stream). Errors of the API server are
// *apierrors.StatusError (kube/internal/k8s/apierrors), so apierrors.IsNotFound
// and friends apply.
type apiClient interface {
	// getNamespace checks that the namespace exists.
	getNamespace(ctx context.Context, name string) error
	// listNodes lists the cluster's nodes (fit checks).
	listNodes(ctx context.Context) (*corev1.NodeList, error)

	createPod(ctx context.Context, ns string, p *corev1.Pod) (*corev1.Pod, error)
	getPod(ctx context.Context, ns, name string) (*corev1.Pod, error)
	deletePod(ctx context.Context, ns, name string, opts metav1.DeleteOptions) error
	listPods(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.PodList, error)
	watchPods(ctx context.Context, ns string, opts metav1.ListOptions) (watch.Interface, error)
	// podLogs streams a container's log; the caller closes it.
	podLogs(ctx context.Context, ns, name string, opts *corev1.PodLogOptions) (io.ReadCloser, error)

	createSecret(ctx context.Context, ns string, s *corev1.Secret) (*corev1.Secret, error)
	getSecret(ctx context.Context, ns, name string) (*corev1.Secret, error)
	// patchSecret applies a JSON merge patch.
	patchSecret(ctx context.Context, ns, name string, mergePatch []byte) error
	deleteSecret(ctx context.Context, ns, name string) error
	listSecrets(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.SecretList, error)

	createNetworkPolicy(ctx context.Context, ns string, np *networkingv1.NetworkPolicy) error
	deleteNetworkPolicy(ctx context.Context, ns, name string) error
	listNetworkPolicies(ctx context.Context, ns string, opts metav1.ListOptions) (*networkingv1.NetworkPolicyList, error)

	listEvents(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.EventList, error)
	watchEvents(ctx context.Context, ns string, opts metav1.ListOptions) (watch.Interface, error)
}
