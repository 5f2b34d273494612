package kube

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "github.com/pipe-run/pipe/kube/internal/k8s/apierrors"
	metav1 "github.com/pipe-run/pipe/kube/internal/k8s/metav1"
)

// PruneReport is what Prune removed.
type PruneReport struct {
	Runs            []string // the dead runs whose objects were removed
	Pods            []string
	NetworkPolicies []string
	Secrets         []string
	// OtherHosts counts runs Prune left alone because another machine's
	// pipe made them (keepRun cannot know whether they are alive).
	OtherHosts int
}

// object is one object of pipe's, for pruning.
type object struct {
	kind, name, run, host string
	deleting              bool // has a deletionTimestamp
}

// Prune removes the pods, NetworkPolicies and Secrets of pipe runs in c's
// namespace that keepRun says are dead (keepRun(runID) == false), of runs
// this machine made (AnnotationHost). c's RunID, AgentImage and registry
// fields are not used.
func Prune(ctx context.Context, c Config, keepRun func(runID string) bool) (*PruneReport, error) {
	b, err := dial(ctx, c)
	if err != nil {
		return nil, err
	}
	return b.prune(ctx, keepRun)
}

// prune is Prune on a connected Backend.
func (b *Backend) prune(ctx context.Context, keepRun func(string) bool) (*PruneReport, error) {
	objs, err := listPipeObjects(ctx, b.client, b.ns, pipeSelector())
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %s: prune: %w", b.where, err)
	}
	rep := &PruneReport{}
	dead, other := map[string]bool{}, map[string]bool{}
	var errs []error
	for _, o := range objs {
		if o.host != b.host {
			other[o.run] = true
			continue
		}
		if keepRun(o.run) {
			continue
		}
		if err := deleteObject(ctx, b.client, b.ns, o); err != nil {
			errs = append(errs, err)
			continue
		}
		dead[o.run] = true
		rep.add(o)
	}
	rep.Runs = sortedKeys(dead)
	for r := range other {
		if !dead[r] {
			rep.OtherHosts++
		}
	}
	return rep, errors.Join(errs...)
}

func (r *PruneReport) add(o object) {
	switch o.kind {
	case "Pod":
		r.Pods = append(r.Pods, o.name)
	case "NetworkPolicy":
		r.NetworkPolicies = append(r.NetworkPolicies, o.name)
	case "Secret":
		r.Secrets = append(r.Secrets, o.name)
	}
}

// listPipeObjects lists the objects of pipe's in ns that selector picks
// (pods first, Secrets last: a pod's Secret goes after the pod).
func listPipeObjects(ctx context.Context, c apiClient, ns, selector string) ([]object, error) {
	opts := metav1.ListOptions{LabelSelector: selector}
	var out []object
	pods, err := c.listPods(ctx, ns, opts)
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	for _, p := range pods.Items {
		out = append(out, object{"Pod", p.Name, p.Labels[LabelRun], p.Annotations[AnnotationHost], p.DeletionTimestamp != nil})
	}
	nps, err := c.listNetworkPolicies(ctx, ns, opts)
	if err != nil {
		return nil, fmt.Errorf("list NetworkPolicies: %w", err)
	}
	for _, p := range nps.Items {
		out = append(out, object{"NetworkPolicy", p.Name, p.Labels[LabelRun], p.Annotations[AnnotationHost], p.DeletionTimestamp != nil})
	}
	secs, err := c.listSecrets(ctx, ns, opts)
	if err != nil {
		return nil, fmt.Errorf("list Secrets: %w", err)
	}
	for _, s := range secs.Items {
		out = append(out, object{"Secret", s.Name, s.Labels[LabelRun], s.Annotations[AnnotationHost], s.DeletionTimestamp != nil})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].run < out[j].run })
	return out, nil
}

// deleteRun deletes every object labelled with runID (pods, then
// NetworkPolicies, then the Secret) and waits until they are gone: a pod
// lingers while the kubelet stops its containers. What is already gone is
// fine; ctx bounds the wait.
func deleteRun(ctx context.Context, c apiClient, ns, runID string) error {
	for {
		objs, err := listPipeObjects(ctx, c, ns, runSelector(runID))
		if err != nil {
			return fmt.Errorf("kubernetes: remove the objects of run %s: %w", runID, err)
		}
		var errs []error
		var left []string
		for _, o := range objs {
			if o.run != runID {
				continue
			}
			left = append(left, o.kind+" "+o.name)
			if !o.deleting {
				errs = append(errs, deleteObject(ctx, c, ns, o))
			}
		}
		if err := errors.Join(errs...); err != nil || len(left) == 0 {
			return err
		}
		sleep(ctx, 250*time.Millisecond)
		if ctx.Err() != nil {
			return fmt.Errorf("kubernetes: remove the objects of run %s: still there: %s: %w", runID, strings.Join(left, ", "), ctx.Err())
		}
	}
}

// deleteObject deletes one object; NotFound is success.
func deleteObject(ctx context.Context, c apiClient, ns string, o object) error {
	var err error
	switch o.kind {
	case "Pod":
		err = c.deletePod(ctx, ns, o.name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(1))})
	case "NetworkPolicy":
		err = c.deleteNetworkPolicy(ctx, ns, o.name)
	case "Secret":
		err = c.deleteSecret(ctx, ns, o.name)
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("kubernetes: delete %s %s/%s: %w", o.kind, ns, o.name, err)
	}
	return nil
}
