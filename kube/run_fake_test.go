package kube

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apierrors "github.com/pipe-run/pipe/kube/internal/k8s/apierrors"
	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	metav1 "github.com/pipe-run/pipe/kube/internal/k8s/metav1"
	"github.com/pipe-run/pipe/kube/internal/k8s/resource"
	kwatch "k8s.io/apimachinery/pkg/watch"
	k8stesting "k8s.io/client-go/testing"
)

func TestRunResultSecretAndCleanup(t *testing.T) {
	b, client, rec := fakeBackend(t)
	s := simpleStep()
	s.NetworkNone, s.Pids = true, 50
	var during struct {
		secret *corev1.Secret
		policy error
		pod    *corev1.Pod
	}
	done := kubelet(t, client, func(pod *corev1.Pod) {
		during.pod = pod
		during.secret, _ = typed(client).getSecret(context.Background(), testNS, secretName("run-1"))
		_, during.policy = typed(client).getNetworkPolicy(context.Background(), testNS, pod.Name)
		setStatus(t, client, pod.Name, startedStatus)
		setStatus(t, client, pod.Name, func(st *corev1.PodStatus) {
			st.Phase = corev1.PodFailed
			st.InitContainerStatuses = afterPush(goodReport)
			st.ContainerStatuses = []corev1.ContainerStatus{terminated(ContainerStep, 3, "Error", `{"exit":3}`)}
		})
	})
	res, err := b.Run(context.Background(), s)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 3 || res.Diff == nil || res.Diff.Digest != testDigest || res.Node != "" || len(res.Notes) != 1 || !strings.Contains(res.Notes[0], "pids") {
		t.Errorf("result %+v", res)
	}
	// While the pod lived: its secret value was in the run's Secret under
	// its own key, and its NetworkPolicy existed.
	key := secretEnvKey(during.pod.Name, "TOKEN")
	if during.secret == nil || string(during.secret.Data[key]) != testSecret || during.secret.Type != corev1.SecretTypeDockerConfigJson {
		t.Fatalf("the Secret during the run: %+v", during.secret)
	}
	if string(during.secret.Data[corev1.DockerConfigJsonKey]) != string(b.cfg.RegistryConfig) || string(during.secret.Data[SecretKeyRegistryCA]) != "PEM" {
		t.Error("the Secret lacks the registry config or CA")
	}
	if during.policy != nil {
		t.Errorf("no NetworkPolicy while the pod ran: %v", during.policy)
	}
	// Afterwards: pod and policy gone, the value out of the Secret.
	if _, err := typed(client).getPod(context.Background(), testNS, during.pod.Name); !apierrors.IsNotFound(err) {
		t.Errorf("the pod is still there: %v", err)
	}
	if _, err := typed(client).getNetworkPolicy(context.Background(), testNS, during.pod.Name); !apierrors.IsNotFound(err) {
		t.Errorf("the NetworkPolicy is still there: %v", err)
	}
	sec, err := typed(client).getSecret(context.Background(), testNS, secretName("run-1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := sec.Data[key]; ok {
		t.Error("the secret value stayed in the Secret after its pod")
	}
	if _, ok := sec.Data[SecretKeyRegistryConfig]; !ok {
		t.Error("dropping env values also dropped the registry config")
	}
	var phases []string
	for _, e := range rec.list() {
		if strings.Contains(e.Message, testSecret) {
			t.Errorf("an event shows the secret: %+v", e)
		}
		if e.Type == EventPhase {
			phases = append(phases, e.Reason)
		}
	}
	if strings.Join(phases, ",") != "Running,Failed" && strings.Join(phases, ",") != "Failed" {
		t.Errorf("phase events %v", phases)
	}
}

func TestRunSecondStepPatchesTheSecret(t *testing.T) {
	b, client, _ := fakeBackend(t)
	for i, exit := range []int32{0, 1} {
		s := simpleStep()
		s.Secrets = map[string]string{"OTHER": "v" + string(rune('0'+i))}
		var seen string
		done := kubelet(t, client, func(pod *corev1.Pod) {
			sec, _ := typed(client).getSecret(context.Background(), testNS, secretName("run-1"))
			seen = string(sec.Data[secretEnvKey(pod.Name, "OTHER")])
			setStatus(t, client, pod.Name, func(st *corev1.PodStatus) {
				st.InitContainerStatuses = afterPush(`{"unchanged":true}`)
				st.ContainerStatuses = []corev1.ContainerStatus{terminated(ContainerStep, exit, "Error", "")}
			})
		})
		res, err := b.Run(context.Background(), s)
		<-done
		if err != nil || res.ExitCode != int(exit) {
			t.Fatalf("run %d: %+v %v", i, res, err)
		}
		if seen != s.Secrets["OTHER"] {
			t.Errorf("run %d: the pod's Secret key held %q", i, seen)
		}
	}
}

func TestRunCancelDeletesThePod(t *testing.T) {
	for _, deadline := range []bool{false, true} {
		b, client, _ := fakeBackend(t)
		ctx, cancel := context.WithCancel(context.Background())
		if deadline {
			ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
		}
		var name string
		done := kubelet(t, client, func(pod *corev1.Pod) {
			name = pod.Name
			setStatus(t, client, pod.Name, startedStatus)
			if !deadline {
				cancel()
			}
		})
		res, err := b.Run(ctx, simpleStep())
		cancel()
		<-done
		if err != nil {
			t.Fatal(err)
		}
		if res.Canceled == deadline || res.TimedOut != deadline {
			t.Errorf("deadline %v: result %+v", deadline, res)
		}
		if _, err := typed(client).getPod(context.Background(), testNS, name); !apierrors.IsNotFound(err) {
			t.Errorf("deadline %v: the pod outlived Run: %v", deadline, err)
		}
	}
}

func node(name string, cpu string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	n.Status.Allocatable = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse("8Gi")}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	return n
}

func unschedulableStatus(st *corev1.PodStatus) {
	st.Phase = corev1.PodPending
	st.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient cpu."}}
}

func TestRunUnschedulableForever(t *testing.T) {
	b, client, rec := fakeBackend(t, node("n1", "2"))
	s := simpleStep()
	s.CPU = 1000
	done := kubelet(t, client, func(pod *corev1.Pod) {
		addEvent(t, client, pod.Name, corev1.EventTypeWarning, "FailedScheduling", "0/1 nodes are available: 1 Insufficient cpu.")
		setStatus(t, client, pod.Name, unschedulableStatus)
	})
	res, err := b.Run(context.Background(), s)
	<-done
	var pe *PodError
	if !errors.As(err, &pe) || !strings.HasPrefix(pe.Reason, "unschedulable") {
		t.Fatalf("err = %v, want an unschedulable *PodError", err)
	}
	if !strings.Contains(pe.Detail, "FailedScheduling") || !strings.Contains(res.Detail, "Insufficient cpu") {
		t.Errorf("the detail lacks the events: %q / %q", pe.Detail, res.Detail)
	}
	warned := false
	for _, e := range rec.list() {
		warned = warned || (e.Type == EventWarning && e.Reason == "FailedScheduling" && e.Pod == pe.Pod && e.Step == "build")
	}
	if !warned {
		t.Errorf("Events did not hear of FailedScheduling: %+v", rec.list())
	}
}

// A pod that does not fit now but fits an empty node waits for room.
func TestRunUnschedulableForNowWaits(t *testing.T) {
	b, client, _ := fakeBackend(t, node("n1", "4"))
	s := simpleStep()
	s.CPU = 3
	done := kubelet(t, client, func(pod *corev1.Pod) {
		setStatus(t, client, pod.Name, unschedulableStatus)
		time.Sleep(500 * time.Millisecond) // longer than a resync: Run must still be waiting
		setStatus(t, client, pod.Name, func(st *corev1.PodStatus) {
			st.Conditions = nil
			st.InitContainerStatuses = afterPush(`{"unchanged":true}`)
			st.ContainerStatuses = []corev1.ContainerStatus{terminated(ContainerStep, 0, "Completed", "")}
		})
	})
	res, err := b.Run(context.Background(), s)
	<-done
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("%+v %v", res, err)
	}
}

func TestRunPipeSideFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status func(*corev1.PodStatus)
		event  string
		reason string
	}{
		{"image pull", func(st *corev1.PodStatus) {
			st.InitContainerStatuses = []corev1.ContainerStatus{terminated(ContainerInit, 0, "Completed", ""), running(ContainerPush)}
			st.ContainerStatuses = []corev1.ContainerStatus{waiting(ContainerStep, "reg/nope:1", "ErrImagePull", "manifest unknown")}
		}, "Failed", "image pull failed"},
		{"init failed", func(st *corev1.PodStatus) {
			st.Phase = corev1.PodFailed
			st.InitContainerStatuses = []corev1.ContainerStatus{terminated(ContainerInit, 2, "Error", "layer sha256:1111: digest mismatch")}
		}, "", "pipe-init failed"},
		{"push lost", func(st *corev1.PodStatus) {
			st.InitContainerStatuses = afterPush(`{"error":"push: 500"}`)
			st.ContainerStatuses = []corev1.ContainerStatus{terminated(ContainerStep, 0, "Completed", "")}
		}, "", "not pushed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, client, _ := fakeBackend(t)
			done := kubelet(t, client, func(pod *corev1.Pod) {
				if tc.event != "" {
					addEvent(t, client, pod.Name, corev1.EventTypeWarning, tc.event, "Failed to pull image")
				}
				setStatus(t, client, pod.Name, tc.status)
			})
			res, err := b.Run(context.Background(), simpleStep())
			<-done
			var pe *PodError
			if !errors.As(err, &pe) || !strings.Contains(pe.Reason, tc.reason) {
				t.Fatalf("err = %v, want %q", err, tc.reason)
			}
			if res == nil || res.Detail == "" {
				t.Errorf("result %+v has no Detail", res)
			}
			if tc.event != "" && !strings.Contains(pe.Detail, "Failed to pull image") {
				t.Errorf("detail %q lacks the event", pe.Detail)
			}
			if l, _ := typed(client).listPods(context.Background(), testNS, metav1.ListOptions{}); len(l.Items) != 0 {
				t.Error("the pod outlived Run")
			}
		})
	}
}

func TestRunPodDeletedByOthers(t *testing.T) {
	b, client, _ := fakeBackend(t)
	done := kubelet(t, client, func(pod *corev1.Pod) {
		setStatus(t, client, pod.Name, startedStatus)
		_ = typed(client).deletePod(context.Background(), testNS, pod.Name, metav1.DeleteOptions{})
	})
	_, err := b.Run(context.Background(), simpleStep())
	<-done
	var pe *PodError
	if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "deleted") {
		t.Fatalf("err = %v", err)
	}
}

func TestRunRefusesBadStepWithoutCreating(t *testing.T) {
	b, client, _ := fakeBackend(t)
	s := simpleStep()
	s.User = "nobody"
	if _, err := b.Run(context.Background(), s); err == nil || !strings.Contains(err.Error(), "numeric") {
		t.Fatalf("err = %v", err)
	}
	if len(client.Actions()) != 0 {
		t.Errorf("a refused step talked to the cluster: %v", client.Actions())
	}
}

func TestSecretOfAnotherRunIsRefused(t *testing.T) {
	other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secretName("run-1"), Namespace: testNS,
		Labels: map[string]string{LabelManagedBy: ManagedByPipe, LabelRun: "someone-else"}}}
	b, _, _ := fakeBackend(t, other)
	_, err := b.Run(context.Background(), simpleStep())
	if err == nil || !strings.Contains(err.Error(), "not this run's") {
		t.Fatalf("err = %v", err)
	}
}

func TestSecretOfThisRunIsAdopted(t *testing.T) {
	mine := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secretName("run-1"), Namespace: testNS, Labels: runLabels("run-1")},
		Data: map[string][]byte{"stale": []byte("x")}}
	b, client, _ := fakeBackend(t, mine)
	if _, err := b.ensureSecret(context.Background(), map[string][]byte{"env-a-B": []byte("v")}); err != nil {
		t.Fatal(err)
	}
	sec, _ := typed(client).getSecret(context.Background(), testNS, secretName("run-1"))
	if string(sec.Data["env-a-B"]) != "v" || string(sec.Data[SecretKeyRegistryConfig]) != string(b.cfg.RegistryConfig) {
		t.Errorf("adopted Secret %v", sec.Data)
	}
}

func TestCloseAndPrune(t *testing.T) {
	objs := []struct{ kind, name, run, host string }{
		{"Pod", "a-1", "run-1", "this-host"}, {"Secret", secretName("run-1"), "run-1", "this-host"},
		{"Pod", "dead-1", "dead", "this-host"}, {"Secret", "pipe-dead", "dead", "this-host"},
		{"Pod", "alive-1", "alive", "this-host"},
		{"Pod", "far-1", "far", "other-host"},
	}
	b, client, _ := fakeBackend(t)
	for _, o := range objs {
		meta := metav1.ObjectMeta{Name: o.name, Labels: runLabels(o.run), Annotations: map[string]string{AnnotationHost: o.host}}
		var err error
		if o.kind == "Pod" {
			_, err = typed(client).createPod(context.Background(), testNS, &corev1.Pod{ObjectMeta: meta})
		} else {
			_, err = typed(client).createSecret(context.Background(), testNS, &corev1.Secret{ObjectMeta: meta})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	unlabelled := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "not-pipes"}}
	if _, err := typed(client).createPod(context.Background(), testNS, unlabelled); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(context.Background()); err != nil {
		t.Fatalf("a second Close: %v", err)
	}
	asked := map[string]bool{}
	rep, err := b.prune(context.Background(), func(run string) bool { asked[run] = true; return run == "alive" })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rep.Runs, ",") != "dead" || strings.Join(rep.Pods, ",") != "dead-1" || strings.Join(rep.Secrets, ",") != "pipe-dead" || rep.OtherHosts != 1 {
		t.Errorf("report %+v", rep)
	}
	if asked["far"] {
		t.Error("Prune asked keepRun about another host's run")
	}
	left := map[string]bool{}
	pods, _ := typed(client).listPods(context.Background(), testNS, metav1.ListOptions{})
	for _, p := range pods.Items {
		left[p.Name] = true
	}
	secs, _ := typed(client).listSecrets(context.Background(), testNS, metav1.ListOptions{})
	for _, s := range secs.Items {
		left[s.Name] = true
	}
	want := map[string]bool{"alive-1": true, "far-1": true, "not-pipes": true}
	if len(left) != len(want) {
		t.Errorf("left %v, want %v", left, want)
	}
	for n := range want {
		if !left[n] {
			t.Errorf("%s was removed", n)
		}
	}
}

// The diff is known only once pipe-push has reported; one that never does
// is a pipe-side failure after pushWait.
func TestRunWaitsForThePushReport(t *testing.T) {
	for _, reports := range []bool{true, false} {
		b, client, _ := fakeBackend(t)
		b.pushWait = 500 * time.Millisecond
		done := kubelet(t, client, func(pod *corev1.Pod) {
			setStatus(t, client, pod.Name, func(st *corev1.PodStatus) {
				startedStatus(st)
				st.ContainerStatuses = []corev1.ContainerStatus{terminated(ContainerStep, 0, "Completed", "")}
			})
			if !reports {
				return
			}
			time.Sleep(300 * time.Millisecond) // a resync: Run must wait, not decide
			setStatus(t, client, pod.Name, func(st *corev1.PodStatus) {
				st.Phase = corev1.PodSucceeded
				st.InitContainerStatuses = afterPush(goodReport)
			})
		})
		res, err := b.Run(context.Background(), simpleStep())
		<-done
		if reports {
			if err != nil || res.Diff == nil || res.Diff.Digest != testDigest {
				t.Errorf("reported: %+v %v", res, err)
			}
			continue
		}
		var pe *PodError
		if !errors.As(err, &pe) || !strings.Contains(pe.Reason, "did not report") || res.ExitCode != 0 {
			t.Errorf("never reported: %+v %v", res, err)
		}
	}
}

// A watch that expires (410 Gone after a compaction) or breaks does not
// lose the pod: Run lists it again and goes on from there.
func TestRunSurvivesExpiredWatches(t *testing.T) {
	b, client, _ := fakeBackend(t)
	b.resync = time.Hour // only the broken watches may bring news
	var watches atomic.Int32
	client.PrependWatchReactor("pods", func(action k8stesting.Action) (bool, kwatch.Interface, error) {
		watches.Add(1)
		w := kwatch.NewFakeWithChanSize(1, false) // the error is queued before Run reads
		w.Error(upstreamStatus(&metav1.Status{Status: metav1.StatusFailure, Code: 410, Reason: metav1.StatusReasonExpired, Message: "too old resource version"}))
		return true, w, nil
	})
	done := kubelet(t, client, func(pod *corev1.Pod) {
		for watches.Load() < 1 { // the status changes after Run's first list
			time.Sleep(time.Millisecond)
		}
		setStatus(t, client, pod.Name, func(st *corev1.PodStatus) {
			st.InitContainerStatuses = afterPush(`{"unchanged":true}`)
			st.ContainerStatuses = []corev1.ContainerStatus{terminated(ContainerStep, 7, "Error", "")}
		})
	})
	res, err := b.Run(context.Background(), simpleStep())
	<-done
	if err != nil || res.ExitCode != 7 {
		t.Fatalf("%+v %v", res, err)
	}
	if watches.Load() < 1 {
		t.Error("no watch was tried")
	}
}
