package kube

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// restClient is apiClient over client-go's RESTClient: one per API group
// kube uses (core/v1, networking.k8s.io/v1), sharing one HTTP client and
// one rate limiter, as the typed clientset's groups do.
type restClient struct {
	core, networking *rest.RESTClient
	params           runtime.ParameterCodec
}

// newRESTClient makes the clients for cfg. The scheme is made here, not in
// a package init, so that a pipe process that never dials pays nothing.
func newRESTClient(cfg *rest.Config) (*restClient, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{corev1.AddToScheme, networkingv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("register API types: %w", err)
		}
	}
	// The unversioned options (ListOptions, Status, ...) as the typed
	// clientset's scheme has them.
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	codecs := serializer.NewCodecFactory(scheme)

	c := *cfg
	c.NegotiatedSerializer = codecs.WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	if c.RateLimiter == nil && c.QPS > 0 {
		c.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(c.QPS, c.Burst)
	}
	hc, err := rest.HTTPClientFor(&c)
	if err != nil {
		return nil, err
	}
	core, err := groupClient(c, hc, "/api", corev1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	networking, err := groupClient(c, hc, "/apis", networkingv1.SchemeGroupVersion)
	if err != nil {
		return nil, err
	}
	return &restClient{core: core, networking: networking, params: runtime.NewParameterCodec(scheme)}, nil
}

// groupClient is a RESTClient for one API group version.
func groupClient(c rest.Config, hc *http.Client, apiPath string, gv schema.GroupVersion) (*rest.RESTClient, error) {
	c.APIPath, c.GroupVersion = apiPath, &gv
	return rest.RESTClientForConfigAndClient(&c, hc)
}

func (c *restClient) getNamespace(ctx context.Context, name string) error {
	return c.core.Get().Resource("namespaces").Name(name).
		VersionedParams(&metav1.GetOptions{}, c.params).Do(ctx).Into(&corev1.Namespace{})
}

func (c *restClient) listNodes(ctx context.Context) (*corev1.NodeList, error) {
	out := &corev1.NodeList{}
	err := c.core.Get().Resource("nodes").VersionedParams(&metav1.ListOptions{}, c.params).Do(ctx).Into(out)
	return out, err
}

func (c *restClient) createPod(ctx context.Context, ns string, p *corev1.Pod) (*corev1.Pod, error) {
	out := &corev1.Pod{}
	return out, c.create(ctx, c.core, ns, "pods", p, out)
}

func (c *restClient) getPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	out := &corev1.Pod{}
	return out, c.get(ctx, c.core, ns, "pods", name, out)
}

func (c *restClient) deletePod(ctx context.Context, ns, name string, opts metav1.DeleteOptions) error {
	return c.delete(ctx, c.core, ns, "pods", name, opts)
}

func (c *restClient) listPods(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.PodList, error) {
	out := &corev1.PodList{}
	return out, c.list(ctx, c.core, ns, "pods", opts, out)
}

func (c *restClient) watchPods(ctx context.Context, ns string, opts metav1.ListOptions) (watch.Interface, error) {
	return c.watch(ctx, c.core, ns, "pods", opts)
}

func (c *restClient) podLogs(ctx context.Context, ns, name string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	return c.core.Get().Namespace(ns).Resource("pods").Name(name).SubResource("log").
		VersionedParams(opts, c.params).Stream(ctx)
}

func (c *restClient) createSecret(ctx context.Context, ns string, s *corev1.Secret) (*corev1.Secret, error) {
	out := &corev1.Secret{}
	return out, c.create(ctx, c.core, ns, "secrets", s, out)
}

func (c *restClient) getSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	out := &corev1.Secret{}
	return out, c.get(ctx, c.core, ns, "secrets", name, out)
}

func (c *restClient) patchSecret(ctx context.Context, ns, name string, mergePatch []byte) error {
	return c.core.Patch(types.MergePatchType).Namespace(ns).Resource("secrets").Name(name).
		VersionedParams(&metav1.PatchOptions{}, c.params).Body(mergePatch).Do(ctx).Into(&corev1.Secret{})
}

func (c *restClient) deleteSecret(ctx context.Context, ns, name string) error {
	return c.delete(ctx, c.core, ns, "secrets", name, metav1.DeleteOptions{})
}

func (c *restClient) listSecrets(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.SecretList, error) {
	out := &corev1.SecretList{}
	return out, c.list(ctx, c.core, ns, "secrets", opts, out)
}

func (c *restClient) createNetworkPolicy(ctx context.Context, ns string, np *networkingv1.NetworkPolicy) error {
	return c.create(ctx, c.networking, ns, "networkpolicies", np, &networkingv1.NetworkPolicy{})
}

func (c *restClient) deleteNetworkPolicy(ctx context.Context, ns, name string) error {
	return c.delete(ctx, c.networking, ns, "networkpolicies", name, metav1.DeleteOptions{})
}

func (c *restClient) listNetworkPolicies(ctx context.Context, ns string, opts metav1.ListOptions) (*networkingv1.NetworkPolicyList, error) {
	out := &networkingv1.NetworkPolicyList{}
	return out, c.list(ctx, c.networking, ns, "networkpolicies", opts, out)
}

func (c *restClient) listEvents(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.EventList, error) {
	out := &corev1.EventList{}
	return out, c.list(ctx, c.core, ns, "events", opts, out)
}

func (c *restClient) watchEvents(ctx context.Context, ns string, opts metav1.ListOptions) (watch.Interface, error) {
	return c.watch(ctx, c.core, ns, "events", opts)
}

// The requests below are those of client-go's generated typed clients.

func (c *restClient) create(ctx context.Context, g *rest.RESTClient, ns, resource string, in, out runtime.Object) error {
	return g.Post().Namespace(ns).Resource(resource).
		VersionedParams(&metav1.CreateOptions{}, c.params).Body(in).Do(ctx).Into(out)
}

func (c *restClient) get(ctx context.Context, g *rest.RESTClient, ns, resource, name string, out runtime.Object) error {
	return g.Get().Namespace(ns).Resource(resource).Name(name).
		VersionedParams(&metav1.GetOptions{}, c.params).Do(ctx).Into(out)
}

func (c *restClient) delete(ctx context.Context, g *rest.RESTClient, ns, resource, name string, opts metav1.DeleteOptions) error {
	return g.Delete().Namespace(ns).Resource(resource).Name(name).Body(&opts).Do(ctx).Error()
}

func (c *restClient) list(ctx context.Context, g *rest.RESTClient, ns, resource string, opts metav1.ListOptions, out runtime.Object) error {
	r := g.Get().Namespace(ns).Resource(resource).VersionedParams(&opts, c.params)
	if opts.TimeoutSeconds != nil {
		r = r.Timeout(time.Duration(*opts.TimeoutSeconds) * time.Second)
	}
	return r.Do(ctx).Into(out)
}

func (c *restClient) watch(ctx context.Context, g *rest.RESTClient, ns, resource string, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	r := g.Get().Namespace(ns).Resource(resource).VersionedParams(&opts, c.params)
	if opts.TimeoutSeconds != nil {
		r = r.Timeout(time.Duration(*opts.TimeoutSeconds) * time.Second)
	}
	return r.Watch(ctx)
}
