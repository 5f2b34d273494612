package kube

import (
	"strings"
	"testing"

	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	metav1 "github.com/pipe-run/pipe/kube/internal/k8s/metav1"
)

// Pod statuses as the kubelet writes them, built by hand.

func terminated(name string, code int32, reason, msg string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: msg}}}
}

func waiting(name, image, reason, msg string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, Image: image, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}
}

func running(name string) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func podWith(phase corev1.PodPhase, init []corev1.ContainerStatus, main ...corev1.ContainerStatus) *corev1.Pod {
	p := &corev1.Pod{}
	p.Spec.NodeName = "node-1"
	p.Status.Phase = phase
	p.Status.InitContainerStatuses = init
	p.Status.ContainerStatuses = main
	return p
}

// goodReport is pipe-push's report of a pushed diff.
const goodReport = `{"digest":"` + testDigest + `","diffID":"` + testDiffID + `","size":42,"mediaType":"application/vnd.oci.image.layer.v1.tar+zstd"}`

// afterPush is the init statuses once pipe-push was stopped with report.
func afterPush(report string) []corev1.ContainerStatus {
	return []corev1.ContainerStatus{terminated(ContainerInit, 0, "Completed", ""), terminated("svc-db", 137, "Error", ""), terminated(ContainerPush, 0, "Completed", report)}
}

func TestJudge(t *testing.T) {
	svcs := map[string]string{"svc-db": "db"}
	initOK := []corev1.ContainerStatus{terminated(ContainerInit, 0, "Completed", ""), running("svc-db"), running(ContainerPush)}
	deadline := podWith(corev1.PodFailed, initOK, terminated(ContainerStep, 137, "Error", ""))
	deadline.Status.Reason = "DeadlineExceeded"
	stuckDeadline := podWith(corev1.PodFailed, []corev1.ContainerStatus{running(ContainerInit)})
	stuckDeadline.Status.Reason = "DeadlineExceeded"
	evicted := podWith(corev1.PodFailed, nil)
	evicted.Status.Reason, evicted.Status.Message = "Evicted", "The node was low on resource: memory."
	unsched := podWith(corev1.PodPending, nil)
	unsched.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient cpu."}}
	restarted := running("svc-db")
	restarted.RestartCount = 1
	restarted.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Error"}
	signaled := terminated(ContainerStep, 137, "Error", "")
	signaled.State.Terminated.Signal = 9
	deletedKilled := podWith(corev1.PodFailed, afterPush(`{"error":"stopped"}`), terminated(ContainerStep, 137, "Error", ""))
	deletedKilled.DeletionTimestamp = &metav1.Time{}
	deletedDone := podWith(corev1.PodFailed, afterPush(`{"unchanged":true}`), terminated(ContainerStep, 2, "Error", ""))
	deletedDone.DeletionTimestamp = &metav1.Time{}

	for _, tc := range []struct {
		name       string
		pod        *corev1.Pod
		agent      bool
		exit       int
		oom, timed bool
		diff       bool
		fail       string // part of the failure's reason ("" none)
		final      bool
		running    bool
		ended      bool // the step ended, its report is awaited
	}{
		{name: "exit code and diff", pod: podWith(corev1.PodFailed, afterPush(goodReport), terminated(ContainerStep, 3, "Error", `{"exit":3}`)), agent: true, exit: 3, diff: true, final: true},
		{name: "exit 0 without agent", pod: podWith(corev1.PodSucceeded, nil, terminated(ContainerStep, 0, "Completed", "")), exit: 0, final: true},
		{name: "phase lags the containers", pod: podWith(corev1.PodRunning, afterPush(`{"unchanged":true}`), terminated(ContainerStep, 5, "Error", "")), agent: true, exit: 5, final: true},
		{name: "step ended, push still stopping", pod: podWith(corev1.PodRunning, initOK, terminated(ContainerStep, 0, "Completed", `{"exit":0}`)), agent: true, final: false, ended: true},
		{name: "pod ended, push never reported", pod: podWith(corev1.PodSucceeded, initOK, terminated(ContainerStep, 0, "Completed", "")), agent: true, fail: "never reported", final: true},
		{name: "diff from push, not from the step", pod: podWith(corev1.PodSucceeded, afterPush(`{"unchanged":true}`), terminated(ContainerStep, 0, "Completed", `{"exit":0,"diff":`+goodReport+`}`)), agent: true, exit: 0, final: true},
		{name: "oom", pod: podWith(corev1.PodFailed, afterPush(`{"error":"the step was not done"}`), terminated(ContainerStep, 137, "OOMKilled", "")), agent: true, exit: 137, oom: true, final: true},
		{name: "oom said by the wrapper only", pod: podWith(corev1.PodFailed, afterPush(`{"unchanged":true}`), terminated(ContainerStep, 137, "Error", `{"exit":137,"oom":true}`)), agent: true, exit: 137, oom: true, final: true},
		{name: "oom of a child, the script went on", pod: podWith(corev1.PodFailed, afterPush(`{"unchanged":true}`), terminated(ContainerStep, 1, "Error", `{"exit":1,"oom":true}`)), agent: true, exit: 1, oom: true, final: true},
		{name: "oom message without agent", pod: podWith(corev1.PodFailed, nil, terminated(ContainerStep, 137, "Error", `{"oom":true}`)), exit: 137, final: true},
		{name: "no oom in the message", pod: podWith(corev1.PodFailed, afterPush(`{"unchanged":true}`), terminated(ContainerStep, 137, "Error", `{"exit":137}`)), agent: true, exit: 137, final: true},
		{name: "killed wrapper, no report", pod: podWith(corev1.PodFailed, afterPush(""), signaled), agent: true, exit: 137, final: true},
		{name: "killed by a deletion", pod: deletedKilled, agent: true, fail: "deleted before the step ended", final: true},
		{name: "ended before a deletion", pod: deletedDone, agent: true, exit: 2, final: true},
		{name: "deadline", pod: deadline, agent: true, exit: 137, timed: true, final: true},
		{name: "deadline in init", pod: stuckDeadline, agent: true, exit: 137, timed: true, final: true},
		{name: "push failed", pod: podWith(corev1.PodFailed, afterPush(`{"error":"push blob: 401 Unauthorized"}`), terminated(ContainerStep, 0, "Completed", `{"exit":0,"error":"x"}`)), agent: true, exit: 0, fail: "diff was not pushed", final: true},
		{name: "report not JSON", pod: podWith(corev1.PodFailed, afterPush("hello"), terminated(ContainerStep, 0, "Completed", "")), agent: true, fail: "unreadable report", final: true},
		{name: "report with a crafted digest", pod: podWith(corev1.PodFailed, afterPush(`{"digest":"sha256:../../../etc/passwd","diffID":"`+testDiffID+`","size":1,"mediaType":"application/vnd.oci.image.layer.v1.tar"}`), terminated(ContainerStep, 0, "Completed", "")), agent: true, fail: "unreadable report", final: true},
		{name: "report unchanged and a diff", pod: podWith(corev1.PodFailed, afterPush(`{"unchanged":true,"digest":"`+testDigest+`"}`), terminated(ContainerStep, 0, "Completed", "")), agent: true, fail: "unreadable report", final: true},
		{name: "report with trailing data", pod: podWith(corev1.PodFailed, afterPush(`{"unchanged":true} {"x":1}`), terminated(ContainerStep, 0, "Completed", "")), agent: true, fail: "unreadable report", final: true},
		{name: "empty report", pod: podWith(corev1.PodFailed, afterPush(""), terminated(ContainerStep, 0, "Completed", "")), agent: true, fail: "unreadable report", final: true},
		{name: "step could not start", pod: podWith(corev1.PodFailed, initOK, terminated(ContainerStep, 128, "StartError", "exec: /.pipe/pipe: no such file")), agent: true, fail: "could not start", final: true},
		{name: "image pull", pod: podWith(corev1.PodPending, initOK, waiting(ContainerStep, "reg/x:1", "ImagePullBackOff", "Back-off pulling image")), agent: true, fail: "image pull failed (container step, image reg/x:1)", final: true},
		{name: "agent image pull", pod: podWith(corev1.PodPending, []corev1.ContainerStatus{waiting(ContainerInit, "reg/agent", "ErrImagePull", "not found")}), agent: true, fail: "container pipe-init", final: true},
		{name: "config error", pod: podWith(corev1.PodPending, initOK, waiting(ContainerStep, "x", "CreateContainerConfigError", `couldn't find key env-x-TOKEN in Secret`)), agent: true, fail: "container config error", final: true},
		{name: "init failed", pod: podWith(corev1.PodFailed, []corev1.ContainerStatus{terminated(ContainerInit, 1, "Error", "digest mismatch")}), agent: true, fail: "pipe-init failed (exit 1)", final: true},
		{name: "service never ready", pod: podWith(corev1.PodPending, []corev1.ContainerStatus{terminated(ContainerInit, 0, "Completed", ""), restarted}), agent: true, fail: `service "db" never became ready`, final: true},
		{name: "evicted", pod: evicted, agent: true, fail: "pod ended before the step ran", final: true},
		{name: "unschedulable waits", pod: unsched, agent: true, fail: "unschedulable", final: false},
		{name: "initialising", pod: podWith(corev1.PodPending, []corev1.ContainerStatus{running(ContainerInit)}), agent: true, final: false},
		{name: "running", pod: podWith(corev1.PodRunning, initOK, running(ContainerStep)), agent: true, final: false, running: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := judge(tc.pod, svcs, tc.agent)
			if v.final() != tc.final || v.running != tc.running || (v.ended != nil) != tc.ended {
				t.Fatalf("final %v running %v, want %v %v (%+v)", v.final(), v.running, tc.final, tc.running, v)
			}
			if (v.fail != nil) != (tc.fail != "") || v.fail != nil && !strings.Contains(v.fail.reason, tc.fail) {
				t.Fatalf("failure %+v, want %q", v.fail, tc.fail)
			}
			if v.result == nil {
				return
			}
			r := v.result
			if tc.fail == "" && (r.ExitCode != tc.exit || r.OOMKilled != tc.oom || r.TimedOut != tc.timed || (r.Diff != nil) != tc.diff) {
				t.Errorf("result %+v", r)
			}
			if r.Node != "node-1" {
				t.Errorf("node %q", r.Node)
			}
			if tc.diff && (r.Diff.Digest != testDigest || r.Diff.Size != 42) {
				t.Errorf("diff %+v", r.Diff)
			}
		})
	}
}

func TestPodErrorText(t *testing.T) {
	e := &PodError{Step: "build", Pod: "build-abc", Namespace: "ci", Reason: "unschedulable", Message: "0/1 nodes", Detail: "events:\n  Warning FailedScheduling: x\n"}
	got := e.Error()
	for _, want := range []string{`step "build"`, "ci/build-abc", "unschedulable: 0/1 nodes", "FailedScheduling"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}

// pipe-push's report carries the cache volumes' diffs (null: unchanged),
// each checked as the workspace's is: its digest becomes a path.
func TestPushReportVolumes(t *testing.T) {
	withVolumes := `{"unchanged":true,"volumes":[null,` + goodReport + `]}`
	pod := podWith(corev1.PodFailed, afterPush(withVolumes), terminated(ContainerStep, 1, "Error", `{"exit":1}`))
	v := judge(pod, nil, true)
	if v.fail != nil || v.result == nil || v.result.Diff != nil || len(v.result.Volumes) != 2 || v.result.Volumes[0] != nil || v.result.Volumes[1].Digest != testDigest {
		t.Fatalf("verdict %+v (result %+v)", v, v.result)
	}
	crafted := `{"unchanged":true,"volumes":[{"digest":"sha256:../../x","diffID":"` + testDiffID + `","size":1,"mediaType":"application/vnd.oci.image.layer.v1.tar"}]}`
	if _, err := parsePushReport(crafted); err == nil || !strings.Contains(err.Error(), "cache volume 0") {
		t.Errorf("a crafted volume digest: %v", err)
	}
}
