package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/internal/testcluster"
	"github.com/pipe-run/pipe/internal/testimage"
)

// The Kubernetes tests (TestKube*) drive the real pipe binary, built static
// as a user builds it (make build), against the real test cluster of
// internal/testcluster: they are skipped without one, and fail without one
// when PIPE_K8S=1. The test binary itself cannot be the agent: go test
// links it dynamically, and the pods run it in images without libc.

// kubeTestImage is the imported (local-only) image the kube tests' steps
// use: the executor pushes it to the cache repository for the cluster.
const kubeTestImage = "pipe.test/busybox:kube"

// managedBy selects every object pipe makes in a cluster.
const managedBy = "app.kubernetes.io/managed-by=pipe"

var (
	staticPipeOnce sync.Once
	staticPipe     string
	staticPipeErr  error
)

// pipeBinary builds cmd/pipe static (CGO_ENABLED=0), once per test binary.
func pipeBinary(t *testing.T) string {
	t.Helper()
	staticPipeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "pipe-kube-bin-")
		if err != nil {
			staticPipeErr = err
			return
		}
		staticPipe = filepath.Join(dir, "pipe")
		cmd := exec.Command("go", "build", "-trimpath", "-o", staticPipe, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			staticPipeErr = errors.New("go build ./cmd/pipe: " + err.Error() + "\n" + string(out))
		}
	})
	if staticPipeErr != nil {
		t.Fatal(staticPipeErr)
	}
	return staticPipe
}

// kubeEnv is the cluster as one test sees it: a namespace and a cache
// repository of its own, and the env pipe needs to reach both.
type kubeEnv struct {
	t       *testing.T
	c       *testcluster.Cluster
	ns      string
	repo    string   // the cache repository (--cache-to)
	env     []string // DOCKER_CONFIG, SSL_CERT_FILE, KUBECONFIG
	bin     string
	layout  string // the busybox image as an OCI layout, for pipe image import
	kclient kubernetes.Interface
}

func newKubeEnv(t *testing.T) *kubeEnv {
	t.Helper()
	c := testcluster.Get(t)
	needsRoot(t) // the local side: the store, the local backend, pipe debug --last
	k := &kubeEnv{t: t, c: c, ns: c.Namespace(t), repo: c.Repo(t, "cache"), bin: pipeBinary(t), kclient: c.Client(t)}
	docker := t.TempDir()
	if err := os.WriteFile(filepath.Join(docker, "config.json"), c.DockerConfig(), 0o600); err != nil {
		t.Fatal(err)
	}
	k.env = []string{"DOCKER_CONFIG=" + docker, "SSL_CERT_FILE=" + c.CAFile, "KUBECONFIG=" + c.Kubeconfig, "NO_COLOR=1"}
	img, err := testimage.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	k.layout = filepath.Join(t.TempDir(), "oci")
	lp, err := layout.Write(k.layout, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	return k
}

// kubeArgs are pipe run's flags for this test's cluster and repository.
func (k *kubeEnv) kubeArgs() []string {
	return []string{"--backend", "kubernetes", "--kube-namespace", k.ns, "--cache-to", k.repo}
}

// kubeStore is one machine of a test: a store (PIPE_HOME) holding the
// busybox image, and a checkout with a .pipe.yml.
type kubeStore struct {
	k          *kubeEnv
	home, repo string
}

// store makes a fresh store and checkout for pipeline (steps use
// kubeTestImage unless they say otherwise).
func (k *kubeEnv) store(pipeline string, files map[string]string) *kubeStore {
	t := k.t
	t.Helper()
	s := &kubeStore{k: k, home: t.TempDir(), repo: t.TempDir()}
	if _, stderr, code := s.pipe("image", "import", k.layout, kubeTestImage); code != 0 {
		t.Fatalf("import: %s", stderr)
	}
	writeTestFiles(t, s.repo, files)
	if err := os.WriteFile(filepath.Join(s.repo, ".pipe.yml"), []byte("version: 1\nimage: "+kubeTestImage+"\n"+pipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	return s
}

// command is pipe args in the checkout, with the store and the cluster's env.
func (s *kubeStore) command(args ...string) *exec.Cmd {
	cmd := exec.Command(s.k.bin, args...)
	cmd.Dir = s.repo
	cmd.Env = append(append(os.Environ(), "PIPE_HOME="+s.home), s.k.env...)
	return cmd
}

// pipe runs pipe and returns its stdout, stderr and exit code.
func (s *kubeStore) pipe(args ...string) (string, string, int) {
	s.k.t.Helper()
	cmd := s.command(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		s.k.t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// run is pipe run --json args; it returns the events, the human output
// and the exit code.
func (s *kubeStore) run(args ...string) ([]runlog.Event, string, int) {
	s.k.t.Helper()
	stdout, stderr, code := s.pipe(append([]string{"run", "--json"}, args...)...)
	var evs []runlog.Event
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		if line == "" {
			continue
		}
		var ev runlog.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			s.k.t.Fatalf("not an event: %q\n%s", line, stderr)
		}
		evs = append(evs, ev)
	}
	return evs, stderr, code
}

// result is the tree of a step's result in the store.
func (s *kubeStore) result(key string) string {
	return treeDump(s.k.t, filepath.Join(s.home, "results", key, "fs"))
}

// objects lists pipe's objects left in the test's namespace.
func (k *kubeEnv) objects() []string {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sel := metav1.ListOptions{LabelSelector: managedBy}
	var out []string
	pods, err := k.kclient.CoreV1().Pods(k.ns).List(ctx, sel)
	if err != nil {
		k.t.Fatal(err)
	}
	for _, p := range pods.Items {
		out = append(out, "pod/"+p.Name)
	}
	secrets, err := k.kclient.CoreV1().Secrets(k.ns).List(ctx, sel)
	if err != nil {
		k.t.Fatal(err)
	}
	for _, s := range secrets.Items {
		out = append(out, "secret/"+s.Name)
	}
	pols, err := k.kclient.NetworkingV1().NetworkPolicies(k.ns).List(ctx, sel)
	if err != nil {
		k.t.Fatal(err)
	}
	for _, p := range pols.Items {
		out = append(out, "networkpolicy/"+p.Name)
	}
	return out
}

// waitGone waits until pipe left nothing in the namespace (a deleted pod
// may take its grace period to go), and fails the test with what is left.
func (k *kubeEnv) waitGone(what string) {
	k.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		left := k.objects()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("%s: left in namespace %s: %v", what, k.ns, left)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitRunning waits for a pod of pipe's to run in the namespace.
func (k *kubeEnv) waitRunning(cmd *exec.Cmd, out *syncBuffer) *corev1.Pod {
	k.t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		pods, err := k.kclient.CoreV1().Pods(k.ns).List(ctx, metav1.ListOptions{LabelSelector: managedBy})
		cancel()
		if err != nil {
			k.t.Fatal(err)
		}
		for i, p := range pods.Items {
			for _, cs := range p.Status.ContainerStatuses {
				if cs.Name == "step" && cs.State.Running != nil {
					return &pods.Items[i]
				}
			}
		}
		if cmd.ProcessState != nil {
			k.t.Fatalf("pipe exited before its pod ran:\n%s", out.String())
		}
		time.Sleep(300 * time.Millisecond)
	}
	k.t.Fatalf("no pod of pipe's ran in namespace %s:\n%s", k.ns, out.String())
	return nil
}

// watchPods records every version of every pod of the namespace while the
// test runs, to check what a pod's spec held. A watch the apiserver ends
// (or that ends with an error) is opened again.
func (k *kubeEnv) watchPods() func() []corev1.Pod {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var seen []corev1.Pod
	done := make(chan struct{})
	ready := make(chan struct{})
	go func() {
		defer close(done)
		first := true
		for ctx.Err() == nil {
			w, err := k.kclient.CoreV1().Pods(k.ns).Watch(ctx, metav1.ListOptions{})
			if first {
				close(ready)
				first = false
			}
			if err != nil {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				if p, ok := ev.Object.(*corev1.Pod); ok {
					mu.Lock()
					seen = append(seen, *p.DeepCopy())
					mu.Unlock()
				}
			}
			w.Stop()
		}
	}()
	<-ready
	k.t.Cleanup(cancel)
	return func() []corev1.Pod {
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return append([]corev1.Pod(nil), seen...)
	}
}

// stepEvents indexes the step_finished events by step.
func stepEvents(evs []runlog.Event) map[string]runlog.Event {
	m := map[string]runlog.Event{}
	for _, e := range evs {
		if e.Type == runlog.EventStepFinished {
			m[e.Step] = e
		}
	}
	return m
}
