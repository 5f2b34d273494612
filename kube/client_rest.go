package kube

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	"github.com/pipe-run/pipe/kube/internal/k8s/metav1"
	"github.com/pipe-run/pipe/kube/internal/k8s/networkingv1"
	"github.com/pipe-run/pipe/kube/internal/k8s/types"
	"github.com/pipe-run/pipe/kube/internal/k8s/watch"
	"github.com/pipe-run/pipe/kube/internal/rest"
)

// restClient is apiClient over package rest: the requests of client-go's
// typed clients for the core/v1 and networking.k8s.io/v1 resources kube
// uses, with JSON bodies.
type restClient struct{ c *rest.Client }

// The API groups' path prefixes.
const (
	corePath       = "/api/v1"
	networkingPath = "/apis/networking.k8s.io/v1"
)

// resourcePath is the path of a resource collection, or of one object
// when name is set: prefix/namespaces/ns/resource/name.
func resourcePath(prefix, ns, resource, name string) string {
	p := prefix
	if ns != "" {
		p += "/namespaces/" + url.PathEscape(ns)
	}
	p += "/" + resource
	if name != "" {
		p += "/" + url.PathEscape(name)
	}
	return p
}

func (c restClient) getNamespace(ctx context.Context, name string) error {
	return c.get(ctx, resourcePath(corePath, "", "namespaces", name), &corev1.Namespace{})
}

func (c restClient) listNodes(ctx context.Context) (*corev1.NodeList, error) {
	out := &corev1.NodeList{}
	return out, c.list(ctx, resourcePath(corePath, "", "nodes", ""), metav1.ListOptions{}, out)
}

func (c restClient) createPod(ctx context.Context, ns string, p *corev1.Pod) (*corev1.Pod, error) {
	in := *p
	in.TypeMeta = metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"}
	out := &corev1.Pod{}
	return out, c.create(ctx, resourcePath(corePath, ns, "pods", ""), &in, out)
}

func (c restClient) getPod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	out := &corev1.Pod{}
	return out, c.get(ctx, resourcePath(corePath, ns, "pods", name), out)
}

func (c restClient) deletePod(ctx context.Context, ns, name string, opts metav1.DeleteOptions) error {
	return c.delete(ctx, resourcePath(corePath, ns, "pods", name), opts)
}

func (c restClient) listPods(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.PodList, error) {
	out := &corev1.PodList{}
	return out, c.list(ctx, resourcePath(corePath, ns, "pods", ""), opts, out)
}

func (c restClient) watchPods(ctx context.Context, ns string, opts metav1.ListOptions) (watch.Interface, error) {
	return c.watch(ctx, resourcePath(corePath, ns, "pods", ""), opts, func() any { return &corev1.Pod{} })
}

func (c restClient) podLogs(ctx context.Context, ns, name string, opts *corev1.PodLogOptions) (io.ReadCloser, error) {
	return c.c.Stream(ctx, rest.Request{Verb: http.MethodGet, Path: resourcePath(corePath, ns, "pods", name) + "/log", Query: logQuery(opts)})
}

func (c restClient) createSecret(ctx context.Context, ns string, s *corev1.Secret) (*corev1.Secret, error) {
	in := *s
	in.TypeMeta = metav1.TypeMeta{Kind: "Secret", APIVersion: "v1"}
	out := &corev1.Secret{}
	return out, c.create(ctx, resourcePath(corePath, ns, "secrets", ""), &in, out)
}

func (c restClient) getSecret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	out := &corev1.Secret{}
	return out, c.get(ctx, resourcePath(corePath, ns, "secrets", name), out)
}

func (c restClient) patchSecret(ctx context.Context, ns, name string, mergePatch []byte) error {
	return c.c.Do(ctx, rest.Request{Verb: http.MethodPatch, Path: resourcePath(corePath, ns, "secrets", name),
		Body: mergePatch, ContentType: string(types.MergePatchType)}, &corev1.Secret{})
}

func (c restClient) deleteSecret(ctx context.Context, ns, name string) error {
	return c.delete(ctx, resourcePath(corePath, ns, "secrets", name), metav1.DeleteOptions{})
}

func (c restClient) listSecrets(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.SecretList, error) {
	out := &corev1.SecretList{}
	return out, c.list(ctx, resourcePath(corePath, ns, "secrets", ""), opts, out)
}

func (c restClient) createNetworkPolicy(ctx context.Context, ns string, np *networkingv1.NetworkPolicy) error {
	in := *np
	in.TypeMeta = metav1.TypeMeta{Kind: "NetworkPolicy", APIVersion: "networking.k8s.io/v1"}
	return c.create(ctx, resourcePath(networkingPath, ns, "networkpolicies", ""), &in, &networkingv1.NetworkPolicy{})
}

func (c restClient) deleteNetworkPolicy(ctx context.Context, ns, name string) error {
	return c.delete(ctx, resourcePath(networkingPath, ns, "networkpolicies", name), metav1.DeleteOptions{})
}

func (c restClient) listNetworkPolicies(ctx context.Context, ns string, opts metav1.ListOptions) (*networkingv1.NetworkPolicyList, error) {
	out := &networkingv1.NetworkPolicyList{}
	return out, c.list(ctx, resourcePath(networkingPath, ns, "networkpolicies", ""), opts, out)
}

func (c restClient) listEvents(ctx context.Context, ns string, opts metav1.ListOptions) (*corev1.EventList, error) {
	out := &corev1.EventList{}
	return out, c.list(ctx, resourcePath(corePath, ns, "events", ""), opts, out)
}

func (c restClient) watchEvents(ctx context.Context, ns string, opts metav1.ListOptions) (watch.Interface, error) {
	return c.watch(ctx, resourcePath(corePath, ns, "events", ""), opts, func() any { return &corev1.Event{} })
}

// The requests below are those of client-go's generated typed clients.

func (c restClient) create(ctx context.Context, path string, in, out any) error {
	return c.c.Do(ctx, rest.Request{Verb: http.MethodPost, Path: path, Body: in}, out)
}

func (c restClient) get(ctx context.Context, path string, out any) error {
	return c.c.Do(ctx, rest.Request{Verb: http.MethodGet, Path: path}, out)
}

// delete sends opts as the body, of the resource's group version, as
// client-go does.
func (c restClient) delete(ctx context.Context, path string, opts metav1.DeleteOptions) error {
	opts.TypeMeta = metav1.TypeMeta{Kind: "DeleteOptions", APIVersion: "v1"}
	if strings.HasPrefix(path, networkingPath+"/") {
		opts.APIVersion = "networking.k8s.io/v1"
	}
	return c.c.Do(ctx, rest.Request{Verb: http.MethodDelete, Path: path, Body: &opts}, nil)
}

func (c restClient) list(ctx context.Context, path string, opts metav1.ListOptions, out any) error {
	return c.c.Do(ctx, rest.Request{Verb: http.MethodGet, Path: path, Query: listQuery(opts), Timeout: listTimeout(opts)}, out)
}

func (c restClient) watch(ctx context.Context, path string, opts metav1.ListOptions, newObject func() any) (watch.Interface, error) {
	opts.Watch = true
	return c.c.Watch(ctx, rest.Request{Verb: http.MethodGet, Path: path, Query: listQuery(opts), Timeout: listTimeout(opts)}, newObject)
}

// listTimeout is the client-side bound of a list or watch, as client-go
// sets it from TimeoutSeconds.
func listTimeout(opts metav1.ListOptions) time.Duration {
	if opts.TimeoutSeconds == nil {
		return 0
	}
	return time.Duration(*opts.TimeoutSeconds) * time.Second
}

// listQuery is opts as query parameters, as client-go's parameter codec
// writes them (empty values left out).
func listQuery(opts metav1.ListOptions) url.Values {
	q := url.Values{}
	set(q, "labelSelector", opts.LabelSelector)
	set(q, "fieldSelector", opts.FieldSelector)
	setBool(q, "watch", opts.Watch)
	setBool(q, "allowWatchBookmarks", opts.AllowWatchBookmarks)
	set(q, "resourceVersion", opts.ResourceVersion)
	set(q, "resourceVersionMatch", string(opts.ResourceVersionMatch))
	if opts.TimeoutSeconds != nil {
		q.Set("timeoutSeconds", strconv.FormatInt(*opts.TimeoutSeconds, 10))
	}
	if opts.Limit > 0 {
		q.Set("limit", strconv.FormatInt(opts.Limit, 10))
	}
	set(q, "continue", opts.Continue)
	if opts.SendInitialEvents != nil {
		q.Set("sendInitialEvents", strconv.FormatBool(*opts.SendInitialEvents))
	}
	return q
}

// logQuery is a log request's options as query parameters.
func logQuery(opts *corev1.PodLogOptions) url.Values {
	q := url.Values{}
	if opts == nil {
		return q
	}
	set(q, "container", opts.Container)
	setBool(q, "follow", opts.Follow)
	setBool(q, "previous", opts.Previous)
	if opts.SinceSeconds != nil {
		q.Set("sinceSeconds", strconv.FormatInt(*opts.SinceSeconds, 10))
	}
	if opts.SinceTime != nil && !opts.SinceTime.IsZero() {
		q.Set("sinceTime", opts.SinceTime.UTC().Format(time.RFC3339))
	}
	setBool(q, "timestamps", opts.Timestamps)
	if opts.TailLines != nil {
		q.Set("tailLines", strconv.FormatInt(*opts.TailLines, 10))
	}
	if opts.LimitBytes != nil {
		q.Set("limitBytes", strconv.FormatInt(*opts.LimitBytes, 10))
	}
	setBool(q, "insecureSkipTLSVerifyBackend", opts.InsecureSkipTLSVerifyBackend)
	if opts.Stream != nil {
		q.Set("stream", *opts.Stream)
	}
	return q
}

func set(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func setBool(q url.Values, k string, v bool) {
	if v {
		q.Set(k, "true")
	}
}
