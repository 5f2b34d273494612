package kube

import (
	"fmt"
	"strings"

	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
)

// PodError is a pipe-side failure of a step attempt: the step's own
// commands never ran, or ran but their result could not be collected.
// Detail holds the pod's events and the log tail of the container at
// fault; it never holds a secret value.
type PodError struct {
	Step      string
	Pod       string
	Namespace string
	Reason    string // short: "unschedulable", "image pull failed", ...
	Message   string // what Kubernetes said
	Detail    string
}

func (e *PodError) Error() string {
	msg := fmt.Sprintf("kubernetes: step %q: pod %s/%s: %s", e.Step, e.Namespace, e.Pod, e.Reason)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Detail != "" {
		msg += "\n" + e.Detail
	}
	return msg
}

// failure is a PodError before its detail is gathered.
type failure struct {
	reason, message string
	container       string // whose log tail explains it ("" none)
	unschedulable   bool   // maybe only for now: Run checks the nodes
}

// verdict is what one look at the pod says.
type verdict struct {
	result *Result  // the step ended (or the pod's deadline passed)
	fail   *failure // a pipe-side failure (with result: the step ran, its diff is lost)
	// running: the step's container has started (its log can be read).
	running bool
	// ended: the step's container ended like this, and its diff is not
	// reported yet (pipe-push is being stopped).
	ended *Result
}

func (v verdict) final() bool { return v.result != nil || (v.fail != nil && !v.fail.unschedulable) }

// waitingFailures are waiting reasons the kubelet would only retry in
// vain: the image cannot be pulled, the container's config or process is
// wrong.
var waitingFailures = map[string]string{
	"ErrImagePull":               "image pull failed",
	"ImagePullBackOff":           "image pull failed",
	"InvalidImageName":           "invalid image name",
	"ErrImageNeverPull":          "image not present and never pulled",
	"CreateContainerConfigError": "container config error",
	"RunContainerError":          "container could not start",
}

// judge reads a pod's status. services maps sidecar container names to
// service names; agent says whether the step's termination message is the
// agent's.
func judge(pod *corev1.Pod, services map[string]string, agent bool) verdict {
	if pod.Status.Reason == "DeadlineExceeded" {
		res := &Result{TimedOut: true, ExitCode: 137, Node: pod.Spec.NodeName}
		if t := stepTerminated(pod); t != nil {
			res.ExitCode = int(t.ExitCode)
		}
		return verdict{result: res}
	}
	step := containerStatus(pod.Status.ContainerStatuses, ContainerStep)
	if step != nil && step.State.Terminated != nil {
		if killedByDeletion(pod, step.State.Terminated) {
			return verdict{fail: deletedFailure()}
		}
		return stepEnded(pod, step.State.Terminated, agent)
	}
	running := step != nil && step.State.Running != nil
	if f := waitingFailure(pod); f != nil {
		return verdict{fail: f, running: running}
	}
	if !running {
		if f := initFailure(pod, services); f != nil {
			return verdict{fail: f}
		}
	}
	if pod.Status.Phase == corev1.PodFailed || pod.Status.Phase == corev1.PodSucceeded {
		return verdict{fail: &failure{reason: "pod ended before the step ran", message: podEndMessage(pod)}}
	}
	if f := unschedulable(pod); f != nil {
		return verdict{fail: f}
	}
	return verdict{running: running}
}

// stepEnded maps the step container's end to a Result. With the agent,
// the diff comes from pipe-push's report, which it writes when the kubelet
// stops it once the step has ended: until then the verdict waits.
func stepEnded(pod *corev1.Pod, t *corev1.ContainerStateTerminated, agent bool) verdict {
	res := &Result{ExitCode: int(t.ExitCode), OOMKilled: t.Reason == "OOMKilled" || (agent && stepSaysOOM(t.Message)), Node: pod.Spec.NodeName}
	if t.Reason == "StartError" || t.Reason == "ContainerCannotRun" {
		return verdict{fail: &failure{reason: "the step's container could not start", message: t.Message}}
	}
	if !agent {
		return verdict{result: res}
	}
	push := containerStatus(pod.Status.InitContainerStatuses, ContainerPush)
	if push == nil || push.State.Terminated == nil {
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			return verdict{result: res, fail: &failure{reason: "pipe-push never reported", message: "the pod ended before pipe-push did", container: ContainerPush}}
		}
		return verdict{ended: res}
	}
	rep, err := parsePushReport(push.State.Terminated.Message)
	switch {
	case err == nil && rep.Error == "":
		if rep.Digest != "" {
			l := rep.Layer
			res.Diff = &l
		}
		res.Volumes = rep.Volumes
		return verdict{result: res}
	case res.OOMKilled || t.Signal != 0 || t.ExitCode >= 128:
		// The step was killed, maybe its wrapper with it: no diff is the
		// step's own failure, not pipe's.
		return verdict{result: res}
	case err != nil:
		return verdict{result: res, fail: &failure{reason: "unreadable report of pipe-push", message: err.Error(), container: ContainerPush}}
	}
	return verdict{result: res, fail: &failure{reason: "the workspace diff was not pushed", message: rep.Error, container: ContainerPush}}
}

// killedByDeletion reports whether the step was killed because someone
// deleted its pod (Run deletes it only after it has judged it): a step
// that exited by itself keeps its result.
func killedByDeletion(pod *corev1.Pod, t *corev1.ContainerStateTerminated) bool {
	return pod.DeletionTimestamp != nil && (t.Signal != 0 || t.ExitCode >= 128)
}

func deletedFailure() *failure {
	return &failure{reason: "the pod was deleted before the step ended", message: "by someone else (kubectl delete, an eviction, a node going away, pipe's Close or Prune)"}
}

// stepTerminated is the step container's terminated state, if any.
func stepTerminated(pod *corev1.Pod) *corev1.ContainerStateTerminated {
	if st := containerStatus(pod.Status.ContainerStatuses, ContainerStep); st != nil {
		return st.State.Terminated
	}
	return nil
}

// waitingFailure finds a container stuck in a waiting reason that will
// not clear by itself.
func waitingFailure(pod *corev1.Pod) *failure {
	all := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, st := range all {
		w := st.State.Waiting
		if w == nil {
			continue
		}
		if reason, ok := waitingFailures[w.Reason]; ok {
			return &failure{reason: fmt.Sprintf("%s (container %s, image %s)", reason, st.Name, st.Image), message: w.Reason + ": " + w.Message}
		}
	}
	return nil
}

// initFailure finds pipe-init failed or a service that ended before the
// step started (its ready check failed too often, or it exited).
func initFailure(pod *corev1.Pod, services map[string]string) *failure {
	for _, st := range pod.Status.InitContainerStatuses {
		t := st.State.Terminated
		if t == nil && st.LastTerminationState.Terminated != nil && st.RestartCount > 0 {
			t = st.LastTerminationState.Terminated
		}
		if t == nil {
			continue
		}
		if st.Name == ContainerInit && t.ExitCode != 0 {
			return &failure{reason: fmt.Sprintf("%s failed (exit %d)", ContainerInit, t.ExitCode), message: t.Message, container: ContainerInit}
		}
		if svc, ok := services[st.Name]; ok {
			return &failure{reason: fmt.Sprintf("service %q never became ready", svc), message: fmt.Sprintf("its container exited %d (%s) %s", t.ExitCode, t.Reason, strings.TrimSpace(t.Message)), container: st.Name}
		}
		if st.Name == ContainerPush {
			return &failure{reason: fmt.Sprintf("%s exited before the step started (exit %d)", ContainerPush, t.ExitCode), message: t.Message, container: ContainerPush}
		}
	}
	return nil
}

// unschedulable is the scheduler's complaint, if it has one.
func unschedulable(pod *corev1.Pod) *failure {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return &failure{reason: "unschedulable", message: c.Message, unschedulable: true}
		}
	}
	return nil
}

// podEndMessage says why a pod ended without the step (eviction, a
// deleted node).
func podEndMessage(pod *corev1.Pod) string {
	msg := string(pod.Status.Phase)
	if pod.Status.Reason != "" {
		msg += ", " + pod.Status.Reason
	}
	if pod.Status.Message != "" {
		msg += ": " + pod.Status.Message
	}
	return msg
}

func containerStatus(list []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}
