package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	metav1 "github.com/pipe-run/pipe/kube/internal/k8s/metav1"
	"github.com/pipe-run/pipe/kube/internal/k8s/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/pipe-run/pipe/internal/testcluster"
)

// Tests on the real cluster of scripts/k8s (internal/testcluster): skipped
// without one, failed when PIPE_K8S=1 and there is none. These run the
// step's argv without the agent (Config.noAgent): what they test is the
// cluster side (exit codes, logs, limits, failures, secrets, services,
// cleanup). TestKubeContract* run the whole pod contract with pipe's agent.

// runTimeout bounds one Run: the machine is shared and slow.
const runTimeout = 4 * time.Minute

// clusterRun is one test's Backend on the cluster, in a namespace of its
// own.
type clusterRun struct {
	t   *testing.T
	c   *testcluster.Cluster
	ns  string
	b   *Backend
	rec *recorder
	api kubernetes.Interface // the admin's clientset, to look behind kube's back
}

func newClusterRun(t *testing.T, agentImage string) *clusterRun {
	t.Helper()
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	rec := &recorder{}
	cfg := Config{
		Kubeconfig: c.Kubeconfig, Namespace: ns, RunID: "t-" + randomSuffix(10),
		AgentImage: agentImage, RegistryConfig: c.DockerConfig(), RegistryCA: c.CAPEM,
		Events: rec.add, noAgent: agentImage == "",
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &clusterRun{t: t, c: c, ns: ns, b: b, rec: rec, api: c.Client(t)}
	t.Cleanup(func() {
		if t.Failed() {
			for _, e := range rec.list() {
				t.Logf("event: %s %s %s: %s", e.Pod, e.Type, e.Reason, e.Message)
			}
		}
		r.close()
	})
	return r
}

// close runs Close and checks that nothing of the run is left.
func (r *clusterRun) close() {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := r.b.Close(ctx); err != nil {
		r.t.Errorf("Close: %v", err)
	}
	if left := r.labelled(ctx); len(left) > 0 {
		r.t.Errorf("after Close, the namespace still holds pipe's objects: %v", left)
	}
}

// labelled lists the objects labelled as pipe's in the namespace (pods
// being deleted count: Close must not leave them running).
func (r *clusterRun) labelled(ctx context.Context) []string {
	objs, err := listPipeObjects(ctx, r.b.client, r.ns, pipeSelector())
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.kind+"/"+o.name)
	}
	return out
}

// step is a busybox step running script.
func (r *clusterRun) step(name, script string) *Step {
	return &Step{Name: name, ID: name, Image: r.busybox(), Args: []string{"sh", "-e", "-c", script}}
}

var busyboxRefs sync.Map // cluster dir -> image ref: push once per test binary

func (r *clusterRun) busybox() string {
	if ref, ok := busyboxRefs.Load(r.c.Dir); ok {
		return ref.(string)
	}
	ref := r.c.Busybox(r.t)
	busyboxRefs.Store(r.c.Dir, ref)
	return ref
}

func (r *clusterRun) run(s *Step) (*Result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	return r.b.Run(ctx, s)
}

func TestKubeExitCodePassesThrough(t *testing.T) {
	r := newClusterRun(t, "")
	for _, code := range []int{0, 3, 42} {
		res, err := r.run(r.step("exit", fmt.Sprintf("exit %d", code)))
		if err != nil {
			t.Fatal(err)
		}
		if res.ExitCode != code || res.OOMKilled || res.TimedOut || res.Node != testcluster.Node {
			t.Errorf("exit %d: result %+v", code, res)
		}
	}
}

// syncBuffer is a Stdout that the test reads while Run writes.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestKubeLogsStreamedInOrder(t *testing.T) {
	r := newClusterRun(t, "")
	var out syncBuffer
	s := r.step("logs", `for i in $(seq 1 300); do echo "line $i"; [ $((i % 100)) = 0 ] && sleep 1; done; echo err >&2; printf 'no newline'`)
	s.Stdout = &out
	res, err := r.run(s)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	var want strings.Builder
	for i := 1; i <= 300; i++ {
		fmt.Fprintf(&want, "line %d\n", i)
	}
	want.WriteString("no newline")
	// stdout and stderr are two pipes: where the stderr line falls among
	// the last stdout lines is the runtime's choice.
	got := out.String()
	if strings.Count(got, "err\n") != 1 {
		t.Errorf("the stderr line is there %d times", strings.Count(got, "err\n"))
	}
	got = strings.Replace(got, "err\n", "", 1)
	if got != want.String() {
		i := firstDiff(got, want.String())
		t.Errorf("log differs at byte %d of %d (want %d):\ngot  ...%q\nwant ...%q", i, len(got), want.Len(), around(got, i), around(want.String(), i))
	}
}

func firstDiff(a, b string) int {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return i
}

func around(s string, i int) string {
	return s[max(0, i-60):min(len(s), i+60)]
}

// The log is streamed while the step runs, not fetched at its end: the
// step waits for the test to connect, and the test connects only once it
// has read the step's first line.
func TestKubeLogsArriveWhileRunning(t *testing.T) {
	r := newClusterRun(t, "")
	var out syncBuffer
	s := r.step("live", `echo started; nc -l -p 9000 >/dev/null; echo finished`)
	s.Stdout = &out
	done := make(chan struct{})
	go func() {
		defer close(done)
		res, err := r.run(s)
		if err != nil || res.ExitCode != 0 {
			t.Errorf("%+v %v", res, err)
		}
	}()
	deadline := time.Now().Add(runTimeout)
	for !strings.Contains(out.String(), "started") {
		if time.Now().After(deadline) {
			t.Fatal("no log line while the step ran")
		}
		time.Sleep(100 * time.Millisecond)
	}
	pod := r.waitPod(s.Name, func(p *corev1.Pod) bool { return p.Status.PodIP != "" })
	r.poke(pod.Status.PodIP + ":9000")
	<-done
	if got := out.String(); got != "started\nfinished\n" {
		t.Errorf("log %q", got)
	}
}

// poke connects to addr (a pod on the test cluster's bridge) until it
// takes the connection, and closes it.
func (r *clusterRun) poke(addr string) {
	r.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("connect to the step at %s: %v", addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitPod polls for the pod of step until ok says yes.
func (r *clusterRun) waitPod(step string, ok func(*corev1.Pod) bool) *corev1.Pod {
	r.t.Helper()
	deadline := time.Now().Add(runTimeout)
	for time.Now().Before(deadline) {
		l, err := typed(r.api).listPods(context.Background(), r.ns, metav1.ListOptions{LabelSelector: LabelStep + "=" + labelValue(step)})
		if err == nil && len(l.Items) == 1 && ok(&l.Items[0]) {
			return &l.Items[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.t.Fatalf("no pod of step %s as wanted", step)
	return nil
}

func TestKubeOOMKilled(t *testing.T) {
	r := newClusterRun(t, "")
	// Without the agent the kubelet's reason is all kube has, and the
	// kubelet (containerd 1.6 on cgroup v1 here) now and then gets no OOM
	// event of a container that dies at once: a kill without the reason
	// is tried again, twice. A kube that misread the reason fails all three.
	var res *Result
	for attempt := 1; attempt <= 3; attempt++ {
		s := r.step(fmt.Sprintf("oom-%d", attempt), "dd if=/dev/zero of=/dev/null bs=200M count=1; echo survived")
		s.Memory = 32 << 20
		var err error
		if res, err = r.run(s); err != nil {
			t.Fatal(err)
		}
		if res.OOMKilled || res.ExitCode != 137 {
			break
		}
		t.Logf("attempt %d: killed (137) without the kubelet's OOMKilled reason; again", attempt)
	}
	if !res.OOMKilled || res.ExitCode != 137 {
		t.Errorf("result %+v, want OOMKilled with 137", res)
	}
}

func TestKubeTimeoutIsDeadlineExceeded(t *testing.T) {
	r := newClusterRun(t, "")
	s := r.step("slow", "sleep 600")
	s.Timeout = 3 * time.Second
	res, err := r.run(s) // a Run that outlived runTimeout would say Canceled/TimedOut by ctx, not by the pod
	if err != nil {
		t.Fatal(err)
	}
	if !res.TimedOut || res.Canceled {
		t.Errorf("result %+v, want TimedOut", res)
	}
}

func TestKubeCancelDeletesThePod(t *testing.T) {
	r := newClusterRun(t, "")
	s := r.step("cancel", "echo up; sleep 600")
	ctx, cancel := context.WithCancel(context.Background())
	type ran struct {
		res *Result
		err error
	}
	done := make(chan ran, 1)
	go func() {
		res, err := r.b.Run(ctx, s)
		done <- ran{res, err}
	}()
	pod := r.waitPod(s.Name, func(p *corev1.Pod) bool {
		st := containerStatus(p.Status.ContainerStatuses, ContainerStep)
		return st != nil && st.State.Running != nil
	})
	cancel()
	got := <-done
	if got.err != nil || got.res == nil || !got.res.Canceled {
		t.Fatalf("%+v %v, want Canceled", got.res, got.err)
	}
	// Run asked for the deletion before it returned; the kubelet then
	// stops the containers and the pod goes.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		p, err := typed(r.api).getPod(context.Background(), r.ns, pod.Name)
		if err != nil {
			break
		}
		if p.DeletionTimestamp == nil {
			t.Fatal("Run returned and its pod is not being deleted")
		}
		if time.Now().After(deadline) {
			t.Fatalf("the canceled pod is still there: %s", r.c.Report(r.ns, pod.Name))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestKubeUnschedulableSaysWhy(t *testing.T) {
	r := newClusterRun(t, "")
	s := r.step("huge", "true")
	s.CPU = 1000
	res, err := r.run(s)
	var pe *PodError
	if !errors.As(err, &pe) || !strings.HasPrefix(pe.Reason, "unschedulable") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(pe.Message, "Insufficient cpu") || !strings.Contains(pe.Detail, "FailedScheduling") || res == nil || res.Detail == "" {
		t.Errorf("the error lacks the scheduler's word or the events: %v", err)
	}
}

func TestKubeImagePullErrorSaysWhy(t *testing.T) {
	r := newClusterRun(t, "")
	s := r.step("nopull", "true")
	s.Image = r.c.Repo(t, "missing") + "@sha256:" + strings.Repeat("ab", 32)
	_, err := r.run(s)
	var pe *PodError
	if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "image pull failed") || !strings.Contains(pe.Reason, "container step") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(pe.Detail, "Warning") || !strings.Contains(pe.Detail, "Failed") {
		t.Errorf("no events in the detail: %v", err)
	}
}

// A secret reaches the step that lists it, as a secretKeyRef, and no
// other step; its value is in no pod spec and leaves the Secret with the
// pod.
func TestKubeSecretEnvOnlyForItsStep(t *testing.T) {
	r := newClusterRun(t, "")
	const value = "kube-test-secret-3f9a"
	specs := r.watchPodSpecs()
	with := r.step("with", `[ "$TOKEN" = "`+value+`" ] && echo has-it`)
	with.Secrets = map[string]string{"TOKEN": value}
	without := r.step("without", `echo "token=${TOKEN-unset}"`)
	var out1, out2 syncBuffer
	with.Stdout, without.Stdout = &out1, &out2
	for _, s := range []*Step{with, without} {
		if res, err := r.run(s); err != nil || res.ExitCode != 0 {
			t.Fatalf("%s: %+v %v", s.Name, res, err)
		}
	}
	if out1.String() != "has-it\n" || out2.String() != "token=unset\n" {
		t.Errorf("logs %q %q", out1.String(), out2.String())
	}
	pods := specs()
	if len(pods) != 2 {
		t.Fatalf("saw %d pods", len(pods))
	}
	for _, p := range pods {
		for _, c := range append(p.Spec.InitContainers, p.Spec.Containers...) {
			for _, e := range c.Env {
				if strings.Contains(e.Value, value) {
					t.Errorf("pod %s container %s has the secret as a plain value", p.Name, c.Name)
				}
				if e.Name == "TOKEN" && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || p.Labels[LabelStep] != "with") {
					t.Errorf("pod %s gets TOKEN as %+v", p.Name, e)
				}
			}
		}
	}
	sec, err := typed(r.api).getSecret(context.Background(), r.ns, secretName(r.b.cfg.RunID))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range sec.Data {
		if string(v) == value {
			t.Errorf("the value stayed in the run's Secret under %s", k)
		}
	}
}

// watchPodSpecs records every pod created in the namespace until the
// returned func is called (with kube's own list-and-watch loop, which
// survives a watch that ends).
func (r *clusterRun) watchPodSpecs() func() []corev1.Pod {
	pods := typed(r.api)
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	seen := map[string]corev1.Pod{}
	lw := listWatch{
		list: func(ctx context.Context) ([]any, string, error) {
			l, err := pods.listPods(ctx, r.ns, metav1.ListOptions{})
			if err != nil {
				return nil, "", err
			}
			var out []any
			for i := range l.Items {
				out = append(out, &l.Items[i])
			}
			return out, l.ResourceVersion, nil
		},
		watch: func(ctx context.Context, rv string) (watch.Interface, error) {
			return pods.watchPods(ctx, r.ns, metav1.ListOptions{ResourceVersion: rv})
		},
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		watchLoop(ctx, 10*time.Second, lw, func(_ watch.EventType, o any) {
			if p, ok := o.(*corev1.Pod); ok {
				mu.Lock()
				seen[p.Name] = *p
				mu.Unlock()
			}
		}, nil)
	}()
	return func() []corev1.Pod {
		cancel()
		<-done
		var out []corev1.Pod
		for _, p := range seen {
			out = append(out, p)
		}
		return out
	}
}

// The step starts only when its service passed its ready check, and
// reaches it by name and alias.
func TestKubeServiceGatesTheStep(t *testing.T) {
	r := newClusterRun(t, "")
	img := r.busybox()
	s := r.step("client", `wget -q -O- http://web:8080/ && wget -q -O- http://www.alias:8080/`)
	s.Services = []Service{{
		Name: "web", Aliases: []string{"www.alias"}, Image: img,
		Entrypoint: []string{"sh", "-c", "sleep 3; mkdir -p /www; echo hello > /www/index.html; exec httpd -f -p 8080 -h /www"},
		Ready:      []string{"wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"},
	}}
	var out syncBuffer
	s.Stdout = &out
	res, err := r.run(s)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%+v %v (log %q)", res, err, out.String())
	}
	if out.String() != "hello\nhello\n" {
		t.Errorf("log %q", out.String())
	}
}

func TestKubeServiceNeverReadyFails(t *testing.T) {
	r := newClusterRun(t, "")
	s := r.step("client", "true")
	s.Services = []Service{{Name: "broken", Image: r.busybox(), Entrypoint: []string{"sleep", "600"},
		Ready: []string{"false"}, ReadyRetries: 2}}
	_, err := r.run(s)
	var pe *PodError
	if !errors.As(err, &pe) || !strings.Contains(pe.Reason, `service "broken" never became ready`) {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(pe.Detail, "Unhealthy") {
		t.Errorf("no probe failure in the detail: %v", err)
	}
}

func TestKubeUserAndLimits(t *testing.T) {
	r := newClusterRun(t, "")
	s := r.step("user", `id -u; id -g; cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max`)
	s.User, s.Memory, s.CPU, s.Pids = "1000:1001", 64<<20, 0.5, 100
	var out syncBuffer
	s.Stdout = &out
	res, err := r.run(s)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	if got := out.String(); got != fmt.Sprintf("1000\n1001\n%d\n", 64<<20) {
		t.Errorf("log %q", got)
	}
	if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "pids") {
		t.Errorf("notes %v", res.Notes)
	}
}

// A NetworkNone step gets its NetworkPolicy while it runs, and Close
// leaves nothing of the run in the namespace (checked by every test's
// cleanup; here with a policy and a pod left running).
func TestKubeCloseLeavesNothing(t *testing.T) {
	r := newClusterRun(t, "")
	s := r.step("fenced", "sleep 600")
	s.NetworkNone, s.Repo = true, r.c.Repo(t, "cache")
	ran := make(chan error, 1)
	go func() {
		_, err := r.run(s)
		ran <- err
	}()
	pod := r.waitPod(s.Name, func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	np, err := typed(r.api).getNetworkPolicy(context.Background(), r.ns, pod.Name)
	if err != nil {
		t.Fatalf("no NetworkPolicy for the running NetworkNone pod: %v", err)
	}
	if got := np.Spec.Egress[0].To[0].IPBlock.CIDR; got != testcluster.BridgeAddr+"/32" {
		t.Errorf("egress to %s", got)
	}
	// Close while the Run is still going: the pod, its policy and the
	// Secret go; the cleanup then checks nothing labelled is left.
	closeCtx, cc := context.WithTimeout(context.Background(), time.Minute)
	defer cc()
	if err := r.b.Close(closeCtx); err != nil {
		t.Fatal(err)
	}
	var pe *PodError
	if err := <-ran; !errors.As(err, &pe) || !strings.Contains(pe.Reason, "deleted") {
		t.Errorf("the Run whose pod Close deleted: %v", err)
	}
}

// Parallel Runs share the run's Secret (each adds and removes its own
// keys) and each gets its own pod, exit code and log.
func TestKubeParallelRuns(t *testing.T) {
	r := newClusterRun(t, "")
	const n = 4
	var wg sync.WaitGroup
	outs := make([]syncBuffer, n)
	results := make([]*Result, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		s := r.step(fmt.Sprintf("par-%d", i), fmt.Sprintf(`echo "i=%d s=$S"; exit %d`, i, 10+i))
		s.Secrets = map[string]string{"S": fmt.Sprintf("secret-%d", i)}
		s.Stdout = &outs[i]
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i], errs[i] = r.run(s)
		}(i)
	}
	wg.Wait()
	for i := 0; i < n; i++ {
		if errs[i] != nil || results[i].ExitCode != 10+i {
			t.Errorf("step %d: %+v %v", i, results[i], errs[i])
		}
		if got, want := outs[i].String(), fmt.Sprintf("i=%d s=secret-%d\n", i, i); got != want {
			t.Errorf("step %d: log %q, want %q", i, got, want)
		}
	}
	sec, err := typed(r.api).getSecret(context.Background(), r.ns, secretName(r.b.cfg.RunID))
	if err != nil {
		t.Fatal(err)
	}
	for k := range sec.Data {
		if strings.HasPrefix(k, secretKeyEnvPrefix) {
			t.Errorf("key %s outlived its pod", k)
		}
	}
}

// Prune removes the objects of a run keepRun calls dead and leaves a live
// one's.
func TestKubePruneDeadRuns(t *testing.T) {
	live := newClusterRun(t, "")
	c := live.c
	dead, err := New(context.Background(), Config{Kubeconfig: c.Kubeconfig, Namespace: live.ns, RunID: "dead-" + randomSuffix(6), noAgent: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*Backend{live.b, dead} {
		if _, err := b.ensureSecret(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Prune(context.Background(), Config{Kubeconfig: c.Kubeconfig, Namespace: live.ns}, func(run string) bool { return run == live.b.cfg.RunID })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Runs, ",") != dead.cfg.RunID || strings.Join(rep.Secrets, ",") != secretName(dead.cfg.RunID) {
		t.Errorf("report %+v", rep)
	}
	if _, err := typed(c.Client(t)).getSecret(context.Background(), live.ns, secretName(live.b.cfg.RunID)); err != nil {
		t.Errorf("the live run's Secret: %v", err)
	}
}
