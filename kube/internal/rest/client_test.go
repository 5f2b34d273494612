package rest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipe-run/pipe/kube/internal/k8s/apierrors"
	"github.com/pipe-run/pipe/kube/internal/k8s/metav1"
	"github.com/pipe-run/pipe/kube/internal/k8s/watch"
)

type object struct {
	Name string `json:"name"`
}

func server(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func client(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Do sends the request as described and decodes the answer; the
// credentials and the User-Agent go with it.
func TestDo(t *testing.T) {
	var got *http.Request
	var body string
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		fmt.Fprint(w, `{"name":"x"}`)
	})
	c := client(t, Config{Host: srv.URL + "/prefix/", UserAgent: "pipe", Authorize: func(r *http.Request) error {
		r.Header.Set("Authorization", "Bearer t")
		return nil
	}})
	var out object
	err := c.Do(context.Background(), Request{Verb: "PATCH", Path: "/api/v1/x", Body: []byte(`{"a":1}`), ContentType: "application/merge-patch+json",
		Query: map[string][]string{"labelSelector": {"a=b"}}, Timeout: 5 * time.Second}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if out.Name != "x" {
		t.Errorf("decoded %+v", out)
	}
	if got.Method != "PATCH" || got.URL.Path != "/prefix/api/v1/x" || got.URL.RawQuery != "labelSelector=a%3Db&timeout=5s" {
		t.Errorf("request %s %s", got.Method, got.URL)
	}
	for k, want := range map[string]string{"Content-Type": "application/merge-patch+json", "User-Agent": "pipe", "Authorization": "Bearer t"} {
		if got.Header.Get(k) != want {
			t.Errorf("%s %q, want %q", k, got.Header.Get(k), want)
		}
	}
	if body != `{"a":1}` {
		t.Errorf("body %q", body)
	}
}

// A non-2xx answer is a StatusError: the server's Status, else one made of
// the code, with client-go's message and the body's start.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		code       int
		is         func(error) bool
		want       string
	}{
		{"status", `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"pods \"p\" not found","reason":"NotFound","code":404}`, 404, apierrors.IsNotFound, `pods "p" not found`},
		{"status conflict", `{"kind":"Status","status":"Failure","message":"exists","reason":"AlreadyExists","code":409}`, 409, apierrors.IsAlreadyExists, "exists"},
		{"status without reason", `{"kind":"Status","status":"Failure","message":"no","code":403}`, 403, apierrors.IsForbidden, "no"},
		{"plain 401", "Unauthorized", 401, apierrors.IsUnauthorized, "provide credentials: Unauthorized (get /api/v1/namespaces/ci)"},
		{"plain 404", "404 page not found", 404, apierrors.IsNotFound, "could not find the requested resource: 404 page not found"},
		{"plain 409", "", 409, apierrors.IsConflict, "reported a conflict (get"},
		{"plain 500", "<html>\n boom </html>", 500, func(err error) bool { return apierrors.ReasonForError(err) == metav1.StatusReasonInternalError }, "(500 Internal Server Error) has prevented the request from succeeding: <html> boom </html>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := server(t, func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.code)
				fmt.Fprint(w, tc.body)
			})
			err := client(t, Config{Host: srv.URL}).Do(context.Background(), Request{Verb: "GET", Path: "/api/v1/namespaces/ci"}, &object{})
			var se *apierrors.StatusError
			if !errors.As(err, &se) || int(se.ErrStatus.Code) != tc.code {
				t.Fatalf("error %v (%T), want a StatusError of %d", err, err, tc.code)
			}
			if !tc.is(err) {
				t.Errorf("%v: reason %q", err, apierrors.ReasonForError(err))
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%q lacks %q", err, tc.want)
			}
		})
	}
}

// A 401 tells Unauthorized (an exec plugin's cache is dropped).
func TestUnauthorizedHook(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(401) })
	called := false
	c := client(t, Config{Host: srv.URL, Unauthorized: func() { called = true }})
	if err := c.Do(context.Background(), Request{Verb: "GET", Path: "/"}, nil); !apierrors.IsUnauthorized(err) || !called {
		t.Errorf("err %v, hook called %v", err, called)
	}
}

func TestWarnings(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Warning", `299 - "metadata.name: this is deprecated"`)
		w.Header().Add("Warning", `299 - "one, with \"quotes\"", 299 kube-apiserver "two" "Sat, 01 Jan 2000 00:00:00 GMT"`)
		w.Header().Add("Warning", `199 - "not 299"`)
		w.Header().Add("Warning", `malformed`)
		fmt.Fprint(w, `{}`)
	})
	var mu sync.Mutex
	var got []string
	c := client(t, Config{Host: srv.URL, Warning: func(s string) { mu.Lock(); got = append(got, s); mu.Unlock() }})
	if err := c.Do(context.Background(), Request{Verb: "GET", Path: "/"}, &object{}); err != nil {
		t.Fatal(err)
	}
	want := []string{"metadata.name: this is deprecated", `one, with "quotes"`, "two"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("warnings %q, want %q", got, want)
	}
}

// A watch decodes each event into the caller's type and an ERROR's into a
// Status; a stream cut in the middle of a value just ends.
func TestWatch(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "watch=true" {
			t.Errorf("query %q", r.URL.RawQuery)
		}
		fmt.Fprintln(w, `{"type":"ADDED","object":{"name":"a"}}`)
		fmt.Fprintln(w, `{"type":"BOOKMARK","object":{"name":""}}`)
		w.(http.Flusher).Flush()
		fmt.Fprintln(w, `{"type":"MODIFIED","object":{"name":"b"}}{"type":"DELETED","object":{"name":"c"}}`)
		fmt.Fprintln(w, `{"type":"ERROR","object":{"kind":"Status","status":"Failure","message":"too old resource version","reason":"Expired","code":410}}`)
		fmt.Fprint(w, `{"type":"ADDED","object":{"na`)
	})
	w, err := client(t, Config{Host: srv.URL}).Watch(context.Background(), Request{Verb: "GET", Path: "/", Query: map[string][]string{"watch": {"true"}}}, func() any { return &object{} })
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var got []string
	for ev := range w.ResultChan() {
		switch o := ev.Object.(type) {
		case *object:
			got = append(got, string(ev.Type)+" "+o.Name)
		case *metav1.Status:
			got = append(got, fmt.Sprintf("%s %s %d", ev.Type, o.Reason, o.Code))
		default:
			t.Fatalf("event %s of %T", ev.Type, ev.Object)
		}
	}
	want := "ADDED a|BOOKMARK |MODIFIED b|DELETED c|ERROR Expired 410"
	if strings.Join(got, "|") != want {
		t.Errorf("events %q, want %q", strings.Join(got, "|"), want)
	}
}

// Garbage in a stream is an ERROR event, then the end.
func TestWatchGarbage(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, `{"type":"ADDED","object":{"name":"a"}}`)
		fmt.Fprintln(w, `{"type":"WHAT","object":{}}`)
		fmt.Fprintln(w, `not json`)
	})
	w, err := client(t, Config{Host: srv.URL}).Watch(context.Background(), Request{Verb: "GET", Path: "/"}, func() any { return &object{} })
	if err != nil {
		t.Fatal(err)
	}
	var types []watch.EventType
	for ev := range w.ResultChan() {
		types = append(types, ev.Type)
		if ev.Type == watch.Error {
			if st, ok := ev.Object.(*metav1.Status); !ok || st.Message == "" {
				t.Errorf("ERROR event of %#v", ev.Object)
			}
		}
	}
	if fmt.Sprint(types) != "[ADDED ERROR ERROR]" {
		t.Errorf("events %v", types)
	}
}

// Stop ends a watch whose server sends nothing, and may be called twice.
func TestWatchStop(t *testing.T) {
	release := make(chan struct{})
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	w, err := client(t, Config{Host: srv.URL}).Watch(context.Background(), Request{Verb: "GET", Path: "/"}, func() any { return &object{} })
	if err != nil {
		t.Fatal(err)
	}
	w.Stop()
	w.Stop()
	select {
	case _, ok := <-w.ResultChan():
		if ok {
			t.Error("an event after Stop")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the result channel stays open after Stop")
	}
}

// A watch refused by the server is an error, not a stream.
func TestWatchRefused(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(403)
		fmt.Fprint(w, `{"kind":"Status","status":"Failure","reason":"Forbidden","message":"no watch","code":403}`)
	})
	_, err := client(t, Config{Host: srv.URL}).Watch(context.Background(), Request{Verb: "GET", Path: "/"}, func() any { return &object{} })
	if !apierrors.IsForbidden(err) {
		t.Errorf("error %v, want Forbidden", err)
	}
}

func TestStream(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "line 1\nline 2\n") })
	rc, err := client(t, Config{Host: srv.URL}).Stream(context.Background(), Request{Verb: "GET", Path: "/log"})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b := make([]byte, 100)
	n, _ := rc.Read(b)
	if !strings.HasPrefix("line 1\nline 2\n", string(b[:n])) || n == 0 {
		t.Errorf("read %q", b[:n])
	}
}

func TestNewRefusesBadHosts(t *testing.T) {
	for _, h := range []string{"", "localhost:6443", "ftp://x", "https://"} {
		if _, err := New(Config{Host: h}); err == nil {
			t.Errorf("New(%q) succeeded", h)
		}
	}
}

func TestTokenBucket(t *testing.T) {
	b := newTokenBucket(10, 3)
	for i := range 3 {
		if d := b.reserve(); d != 0 {
			t.Fatalf("request %d of the burst waits %v", i, d)
		}
	}
	if d := b.reserve(); d < 50*time.Millisecond || d > 150*time.Millisecond {
		t.Errorf("the request after the burst waits %v, want ~100ms", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.wait(ctx); err == nil {
		t.Error("wait with an ended context and no token succeeded")
	}
}
