package testcluster

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PodTimeout bounds WaitPod and RunPod. It is generous: the machine is
// shared and an image pull or a burst of pods can take a while.
const PodTimeout = 5 * time.Minute

// RunPod creates pod (in pod.Namespace) and waits until it has finished
// (phase Succeeded or Failed, every container terminated); it returns the
// final pod.
func (c *Cluster) RunPod(t testing.TB, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	cs := c.Client(t)
	if _, err := cs.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("testcluster: create pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	return c.WaitPod(t, pod.Namespace, pod.Name, "finished", Finished)
}

// Finished says the pod is done: phase Succeeded or Failed and no
// container still running (the phase can run ahead of the statuses).
func Finished(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
		return false
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Terminated == nil {
			return false
		}
	}
	return true
}

// WaitPod polls the pod until done says yes and returns it; after
// PodTimeout the test fails with the pod's status and events (what is
// the wait for, for the message).
func (c *Cluster) WaitPod(t testing.TB, ns, name, what string, done func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	cs := c.Client(t)
	deadline := time.Now().Add(PodTimeout)
	for {
		p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && done(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("testcluster: pod %s/%s not %s after %v (get: %v)\n%s", ns, name, what, PodTimeout, err, c.Report(ns, name))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Logs is a container's whole log.
func (c *Cluster) Logs(t testing.TB, ns, pod, container string) string {
	t.Helper()
	b, err := c.Client(t).CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(context.Background())
	if err != nil {
		t.Fatalf("testcluster: logs of %s/%s %s: %v\n%s", ns, pod, container, err, b)
	}
	return string(b)
}

// Report describes a pod for a failure message: phase, container states
// and the namespace's events about it.
func (c *Cluster) Report(ns, name string) string {
	cs, err := c.clientset()
	if err != nil {
		return err.Error()
	}
	ctx := context.Background()
	var b strings.Builder
	if p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
		fmt.Fprintf(&b, "pod: %v\n", err)
	} else {
		fmt.Fprintf(&b, "pod %s/%s phase=%s reason=%q message=%q node=%q\n", ns, name, p.Status.Phase, p.Status.Reason, p.Status.Message, p.Spec.NodeName)
		all := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
		for _, s := range all {
			fmt.Fprintf(&b, "  container %s: %s\n", s.Name, state(s.State))
		}
	}
	evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
	if err != nil {
		fmt.Fprintf(&b, "events: %v\n", err)
		return b.String()
	}
	sort.Slice(evs.Items, func(i, j int) bool { return evs.Items[i].LastTimestamp.Before(&evs.Items[j].LastTimestamp) })
	for _, e := range evs.Items {
		fmt.Fprintf(&b, "  event %s %s: %s\n", e.Type, e.Reason, e.Message)
	}
	return b.String()
}

func state(s corev1.ContainerState) string {
	switch {
	case s.Terminated != nil:
		return fmt.Sprintf("terminated exit=%d reason=%s message=%q", s.Terminated.ExitCode, s.Terminated.Reason, s.Terminated.Message)
	case s.Running != nil:
		return "running"
	case s.Waiting != nil:
		return fmt.Sprintf("waiting reason=%s message=%q", s.Waiting.Reason, s.Waiting.Message)
	}
	return "unknown"
}
