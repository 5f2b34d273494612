package kube

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// The requests restClient sends, checked against a stub API server: the
// typed clientset's tests do not cover this client, and the cluster tests
// only show that a whole run works.

// apiStub answers one request per test and records it.
type apiStub struct {
	method, uri, contentType string
	body                     map[string]any
	status                   int
	reply                    string
}

func (s *apiStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.method, s.uri, s.contentType = r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type")
	s.body = nil
	if b, _ := io.ReadAll(r.Body); len(b) > 0 {
		_ = json.Unmarshal(b, &s.body)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.status)
	_, _ = io.WriteString(w, s.reply)
}

func stubClient(t *testing.T, s *apiStub) *restClient {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := newRESTClient(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRESTClientRequests(t *testing.T) {
	ctx := context.Background()
	grace := metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(1))}
	tests := []struct {
		name, reply  string
		call         func(c *restClient) error
		method, uri  string
		contentType  string
		wantBodyKind string
	}{
		{"create pod", `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","uid":"u1"}}`,
			func(c *restClient) error {
				p, err := c.createPod(ctx, testNS, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}})
				if err == nil && p.UID != "u1" {
					t.Errorf("created pod's UID %q, want u1", p.UID)
				}
				return err
			}, "POST", "/api/v1/namespaces/ci/pods", "application/json", "Pod"},
		{"delete pod", `{"kind":"Status","apiVersion":"v1","status":"Success"}`,
			func(c *restClient) error { return c.deletePod(ctx, testNS, "p", grace) },
			"DELETE", "/api/v1/namespaces/ci/pods/p", "application/json", "DeleteOptions"},
		{"list policies", `{"kind":"NetworkPolicyList","apiVersion":"networking.k8s.io/v1","items":[]}`,
			func(c *restClient) error {
				_, err := c.listNetworkPolicies(ctx, testNS, metav1.ListOptions{LabelSelector: "a=b"})
				return err
			}, "GET", "/apis/networking.k8s.io/v1/namespaces/ci/networkpolicies?labelSelector=a%3Db", "", ""},
		{"patch secret", `{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s"}}`,
			func(c *restClient) error { return c.patchSecret(ctx, testNS, "s", []byte(`{"data":{"K":null}}`)) },
			"PATCH", "/api/v1/namespaces/ci/secrets/s", "application/merge-patch+json", ""},
		{"nodes", `{"kind":"NodeList","apiVersion":"v1","items":[{"metadata":{"name":"n"}}]}`,
			func(c *restClient) error {
				l, err := c.listNodes(ctx)
				if err == nil && len(l.Items) != 1 {
					t.Errorf("got %d nodes, want 1", len(l.Items))
				}
				return err
			}, "GET", "/api/v1/nodes", "", ""},
		{"log tail", "a\nb\n",
			func(c *restClient) error {
				rc, err := c.podLogs(ctx, testNS, "p", &corev1.PodLogOptions{Container: "step", TailLines: ptr(int64(5))})
				if err != nil {
					return err
				}
				defer rc.Close()
				b, err := io.ReadAll(rc)
				if string(b) != "a\nb\n" {
					t.Errorf("log %q, want a\\nb\\n", b)
				}
				return err
			}, "GET", "/api/v1/namespaces/ci/pods/p/log?container=step&tailLines=5", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &apiStub{status: http.StatusOK, reply: tt.reply}
			if err := tt.call(stubClient(t, s)); err != nil {
				t.Fatal(err)
			}
			if s.method != tt.method || s.uri != tt.uri {
				t.Errorf("request %s %s, want %s %s", s.method, s.uri, tt.method, tt.uri)
			}
			if s.contentType != tt.contentType {
				t.Errorf("Content-Type %q, want %q", s.contentType, tt.contentType)
			}
			if kind, _ := s.body["kind"].(string); kind != tt.wantBodyKind {
				t.Errorf("body kind %q, want %q (body %v)", kind, tt.wantBodyKind, s.body)
			}
		})
	}
}

// An API server's error is a StatusError, as kube's apierrors checks need.
func TestRESTClientNotFound(t *testing.T) {
	s := &apiStub{status: http.StatusNotFound,
		reply: `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"namespaces \"x\" not found"}`}
	err := stubClient(t, s).getNamespace(context.Background(), "x")
	if !apierrors.IsNotFound(err) {
		t.Fatalf("got %v, want NotFound", err)
	}
	if s.uri != "/api/v1/namespaces/x" {
		t.Errorf("request %s, want /api/v1/namespaces/x", s.uri)
	}
}

// A watch decodes its events into the scheme's types.
func TestRESTClientWatch(t *testing.T) {
	s := &apiStub{status: http.StatusOK,
		reply: `{"type":"MODIFIED","object":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","resourceVersion":"8"},"status":{"phase":"Running"}}}` + "\n"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w, err := stubClient(t, s).watchPods(ctx, testNS, metav1.ListOptions{FieldSelector: "metadata.name=p", ResourceVersion: "7"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	e := <-w.ResultChan()
	p, ok := e.Object.(*corev1.Pod)
	if e.Type != watch.Modified || !ok || p.Name != "p" || p.Status.Phase != corev1.PodRunning {
		t.Fatalf("event %s %#v, want MODIFIED of running pod p", e.Type, e.Object)
	}
	if want := "/api/v1/namespaces/ci/pods?fieldSelector=metadata.name%3Dp&resourceVersion=7&watch=true"; s.uri != want {
		t.Errorf("request %s, want %s", s.uri, want)
	}
}
