package kube

import (
	"context"
	"time"

	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	"github.com/pipe-run/pipe/kube/internal/k8s/resource"
)

// An unschedulable pod is often only unschedulable for now: other steps'
// pods hold the cluster's CPU and memory. Run waits for those (the step's
// ctx bounds the wait) and fails only a pod that no node could run even
// empty: one that asks more than any node has, or when every node is
// tainted, cordoned or not ready.

// fitRecheck is how often the nodes are listed again while a pod waits.
const fitRecheck = 10 * time.Second

// fitCheck is the last answer about the nodes.
type fitCheck struct {
	at   time.Time
	fits bool
}

// mayFitLater reports whether some node could run pod once it is free.
// When the nodes cannot be read (RBAC), it cannot tell and says yes.
func (a *attempt) mayFitLater(ctx context.Context, pod *corev1.Pod) bool {
	if a.fits != nil && time.Since(a.fits.at) < fitRecheck {
		return a.fits.fits
	}
	nodes, err := a.b.client.listNodes(ctx)
	fits := err != nil
	if err == nil {
		need := podRequests(pod)
		for i := range nodes.Items {
			if nodeCanRun(&nodes.Items[i], need) {
				fits = true
				break
			}
		}
	}
	a.fits = &fitCheck{at: time.Now(), fits: fits}
	return fits
}

// nodeCanRun reports whether an empty node would take a pod that needs
// need and tolerates no taint.
func nodeCanRun(n *corev1.Node, need corev1.ResourceList) bool {
	if n.Spec.Unschedulable || !nodeReady(n) {
		return false
	}
	for _, t := range n.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return false
		}
	}
	for name, q := range need {
		have, ok := n.Status.Allocatable[name]
		if !ok || have.Cmp(q) < 0 {
			return false
		}
	}
	return true
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podRequests is what the scheduler reserves for pod: the containers and
// sidecars together, or the largest plain init container if that is more.
func podRequests(pod *corev1.Pod) corev1.ResourceList {
	sum := corev1.ResourceList{}
	for _, c := range pod.Spec.Containers {
		addTo(sum, c.Resources.Requests)
	}
	peak := corev1.ResourceList{}
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			addTo(sum, c.Resources.Requests)
			continue
		}
		for name, q := range c.Resources.Requests {
			if cur, ok := peak[name]; !ok || q.Cmp(cur) > 0 {
				peak[name] = q.DeepCopy()
			}
		}
	}
	for name, q := range peak {
		if cur, ok := sum[name]; !ok || q.Cmp(cur) > 0 {
			sum[name] = q
		}
	}
	return sum
}

func addTo(sum, add corev1.ResourceList) {
	for name, q := range add {
		cur, ok := sum[name]
		if !ok {
			cur = *resource.NewQuantity(0, q.Format)
		}
		cur.Add(q)
		sum[name] = cur
	}
}
