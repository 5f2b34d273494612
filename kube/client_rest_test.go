package kube

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pipe-run/pipe/kube/internal/k8s/apierrors"
	"github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	"github.com/pipe-run/pipe/kube/internal/k8s/metav1"
	"github.com/pipe-run/pipe/kube/internal/k8s/watch"
	"github.com/pipe-run/pipe/kube/internal/rest"
)

// The requests restClient sends, checked against a stub API server: the
// fake clientset's tests do not cover this client, and the cluster tests
// only show that a whole run works. (Package rest's own tests cover
// errors, warnings and broken watch streams.)

// apiStub answers one request per test and records it.
type apiStub struct {
	method, uri, contentType, userAgent string
	body                                map[string]any
	status                              int
	reply                               string
}

func (s *apiStub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.method, s.uri, s.contentType, s.userAgent = r.Method, r.URL.RequestURI(), r.Header.Get("Content-Type"), r.Header.Get("User-Agent")
	s.body = nil
	if b, _ := io.ReadAll(r.Body); len(b) > 0 {
		_ = json.Unmarshal(b, &s.body)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.status)
	_, _ = io.WriteString(w, s.reply)
}

func stubClient(t *testing.T, s *apiStub) restClient {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := rest.New(rest.Config{Host: srv.URL, UserAgent: "pipe"})
	if err != nil {
		t.Fatal(err)
	}
	return restClient{c}
}

func TestRESTClientRequests(t *testing.T) {
	ctx := context.Background()
	grace := metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(1))}
	tests := []struct {
		name, reply  string
		call         func(c restClient) error
		method, uri  string
		contentType  string
		wantBodyKind string
	}{
		{"create pod", `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","uid":"u1"}}`,
			func(c restClient) error {
				p, err := c.createPod(ctx, testNS, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}})
				if err == nil && p.UID != "u1" {
					t.Errorf("created pod's UID %q, want u1", p.UID)
				}
				return err
			}, "POST", "/api/v1/namespaces/ci/pods", "application/json", "Pod"},
		{"delete pod", `{"kind":"Status","apiVersion":"v1","status":"Success"}`,
			func(c restClient) error { return c.deletePod(ctx, testNS, "p", grace) },
			"DELETE", "/api/v1/namespaces/ci/pods/p", "application/json", "DeleteOptions"},
		{"delete policy", `{"kind":"Status","apiVersion":"v1","status":"Success"}`,
			func(c restClient) error { return c.deleteNetworkPolicy(ctx, testNS, "np") },
			"DELETE", "/apis/networking.k8s.io/v1/namespaces/ci/networkpolicies/np", "application/json", "DeleteOptions"},
		{"create secret", `{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s"}}`,
			func(c restClient) error {
				_, err := c.createSecret(ctx, testNS, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}})
				return err
			}, "POST", "/api/v1/namespaces/ci/secrets", "application/json", "Secret"},
		{"list pods with a timeout", `{"kind":"PodList","apiVersion":"v1","items":[]}`,
			func(c restClient) error {
				_, err := c.listPods(ctx, testNS, metav1.ListOptions{LabelSelector: "a=b,c=d", TimeoutSeconds: ptr(int64(30)), ResourceVersion: "0"})
				return err
			}, "GET", "/api/v1/namespaces/ci/pods?labelSelector=a%3Db%2Cc%3Dd&resourceVersion=0&timeout=30s&timeoutSeconds=30", "", ""},
		{"get namespace", `{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"ci"}}`,
			func(c restClient) error { return c.getNamespace(ctx, testNS) },
			"GET", "/api/v1/namespaces/ci", "", ""},
		{"list policies", `{"kind":"NetworkPolicyList","apiVersion":"networking.k8s.io/v1","items":[]}`,
			func(c restClient) error {
				_, err := c.listNetworkPolicies(ctx, testNS, metav1.ListOptions{LabelSelector: "a=b"})
				return err
			}, "GET", "/apis/networking.k8s.io/v1/namespaces/ci/networkpolicies?labelSelector=a%3Db", "", ""},
		{"patch secret", `{"kind":"Secret","apiVersion":"v1","metadata":{"name":"s"}}`,
			func(c restClient) error { return c.patchSecret(ctx, testNS, "s", []byte(`{"data":{"K":null}}`)) },
			"PATCH", "/api/v1/namespaces/ci/secrets/s", "application/merge-patch+json", ""},
		{"nodes", `{"kind":"NodeList","apiVersion":"v1","items":[{"metadata":{"name":"n"}}]}`,
			func(c restClient) error {
				l, err := c.listNodes(ctx)
				if err == nil && len(l.Items) != 1 {
					t.Errorf("got %d nodes, want 1", len(l.Items))
				}
				return err
			}, "GET", "/api/v1/nodes", "", ""},
		{"log follow", "",
			func(c restClient) error {
				since := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
				rc, err := c.podLogs(ctx, testNS, "p", &corev1.PodLogOptions{Container: "step", Follow: true, Timestamps: true, SinceTime: &since})
				if err == nil {
					rc.Close()
				}
				return err
			}, "GET", "/api/v1/namespaces/ci/pods/p/log?container=step&follow=true&sinceTime=2026-01-02T03%3A04%3A05Z&timestamps=true", "", ""},
		{"log tail", "a\nb\n",
			func(c restClient) error {
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
			if s.userAgent != "pipe" {
				t.Errorf("User-Agent %q, want pipe", s.userAgent)
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
	w, err := stubClient(t, s).watchPods(ctx, testNS, metav1.ListOptions{FieldSelector: "metadata.name=p", ResourceVersion: "7", AllowWatchBookmarks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	e := <-w.ResultChan()
	p, ok := e.Object.(*corev1.Pod)
	if e.Type != watch.Modified || !ok || p.Name != "p" || p.Status.Phase != corev1.PodRunning {
		t.Fatalf("event %s %#v, want MODIFIED of running pod p", e.Type, e.Object)
	}
	if want := "/api/v1/namespaces/ci/pods?allowWatchBookmarks=true&fieldSelector=metadata.name%3Dp&resourceVersion=7&watch=true"; s.uri != want {
		t.Errorf("request %s, want %s", s.uri, want)
	}
}

// The selectors kube builds are those of labels.Set and fields.Set.
func TestSelectors(t *testing.T) {
	if got, want := runSelector("r1"), "app.kubernetes.io/managed-by=pipe,pipe.run/run=r1"; got != want {
		t.Errorf("runSelector %q, want %q", got, want)
	}
	if got, want := fieldSelector(map[string]string{"involvedObject.name": `a,b=c\d`, "involvedObject.kind": "Pod"}), `involvedObject.kind=Pod,involvedObject.name=a\,b\=c\\d`; got != want {
		t.Errorf("fieldSelector %q, want %q", got, want)
	}
}
