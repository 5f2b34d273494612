package kube

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	metav1 "github.com/pipe-run/pipe/kube/internal/k8s/metav1"
	"github.com/pipe-run/pipe/kube/internal/k8s/types"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// Helpers for tests against client-go's fake clientset: it stores objects
// and serves watches, but runs nothing, so a test plays the kubelet by
// writing pod statuses itself. (The real cluster tests are TestKube*.)

const testNS = "ci"

type recorder struct {
	mu     sync.Mutex
	events []Event
}

func (r *recorder) add(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) list() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// fakeBackend is a Backend on a fake clientset that holds objs (kube's
// types: *corev1.Node, *corev1.Secret, ...).
func fakeBackend(t *testing.T, objs ...any) (*Backend, *fake.Clientset, *recorder) {
	t.Helper()
	rec := &recorder{}
	var up []kruntime.Object
	for _, o := range objs {
		up = append(up, upstream(o))
	}
	client := fake.NewClientset(up...)
	c := Config{RunID: "run-1", AgentImage: "reg.test:5000/cache:pipe-agent-000000000000",
		RegistryConfig: []byte(`{"auths":{"reg.test:5000":{"auth":"dXNlcjpwYXNz"}}}`), RegistryCA: []byte("PEM"), Events: rec.add}
	if err := c.check(); err != nil {
		t.Fatal(err)
	}
	b := newBackend(c, typedClient{client}, testNS)
	b.host = "this-host"
	b.resync, b.logRetry, b.cleanupTimeout = 200*time.Millisecond, 10*time.Millisecond, 5*time.Second
	b.lookupIP = func(ctx context.Context, host string) ([]net.IP, error) {
		return []net.IP{net.ParseIP("10.1.2.3")}, nil
	}
	return b, client, rec
}

// simpleStep is a valid step for the fake backend.
func simpleStep() *Step {
	return &Step{Name: "build", ID: "build", Image: "reg.test:5000/img@" + testDigest, Args: []string{"sh", "-c", "exit 3"},
		Repo: "reg.test:5000/cache", Secrets: map[string]string{"TOKEN": testSecret}}
}

// kubelet waits for the run's one pod and hands it to play, which writes
// its statuses.
func kubelet(t *testing.T, client *fake.Clientset, play func(pod *corev1.Pod)) <-chan struct{} {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			l, err := typed(client).listPods(context.Background(), testNS, metav1.ListOptions{})
			if err == nil && len(l.Items) > 0 {
				play(&l.Items[0])
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Error("no pod was created")
	}()
	return done
}

// setStatus writes a pod's status as the kubelet would.
func setStatus(t *testing.T, client *fake.Clientset, name string, edit func(*corev1.PodStatus)) {
	t.Helper()
	p, err := typed(client).getPod(context.Background(), testNS, name)
	if err != nil {
		t.Errorf("get pod: %v", err)
		return
	}
	edit(&p.Status)
	if _, err := typed(client).updatePodStatus(context.Background(), testNS, p); err != nil {
		t.Errorf("update status: %v", err)
	}
}

// addEvent records a Kubernetes event about a pod.
func addEvent(t *testing.T, client *fake.Clientset, pod, typ, reason, msg string) {
	t.Helper()
	e := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: pod + "." + reason, Namespace: testNS, UID: types.UID("uid-" + pod + reason)},
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: pod, Namespace: testNS},
		Type:           typ, Reason: reason, Message: msg, Count: 1, LastTimestamp: metav1.Now(),
	}
	if _, err := typed(client).createEvent(context.Background(), testNS, e); err != nil {
		t.Errorf("create event: %v", err)
	}
}

func startedStatus(s *corev1.PodStatus) {
	s.Phase = corev1.PodRunning
	now := metav1.Now()
	s.StartTime = &now
	s.InitContainerStatuses = []corev1.ContainerStatus{terminated(ContainerInit, 0, "Completed", ""), running(ContainerPush)}
	s.ContainerStatuses = []corev1.ContainerStatus{running(ContainerStep)}
}
