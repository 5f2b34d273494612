// Package kube runs one step attempt as one pod on a Kubernetes cluster: it
// loads a kubeconfig by kubectl's rules (KUBECONFIG, ~/.kube/config, the
// in-cluster service account; internal/kubeconfig), keeps a run's Secret (the cache registry's
// credentials and the steps' secret values), builds each step's pod (the
// pipe-init and pipe-push agent containers, the services as native sidecars,
// the step's container behind the agent's run wrapper), creates it, watches it
// to the end, streams the step's log, reads the agent's termination message
// and maps what happened to a Result or a *PodError, and deletes what it
// created: the pod after every attempt, everything of a run on Close, and the
// objects of dead runs on Prune.
//
// Every object carries the labels app.kubernetes.io/managed-by=pipe and
// pipe.run/run=<run ID> (pods also pipe.run/step and pipe.run/pod), so that a
// run's leftovers can always be found and removed.
//
// What a pod cannot do, and kube therefore does not pretend to:
//   - a pids limit: Kubernetes limits pids per node (the kubelet's
//     podPidsLimit), not per pod. A Step's Pids is not applied, and Result.Notes
//     says so.
//   - Step.NetworkNone is a NetworkPolicy that denies every ingress and egress
//     of the pod but egress to the cache registry's address and port. Only a
//     cluster whose network plugin enforces NetworkPolicy honours it; a plain
//     bridge plugin ignores it. The exception is pod-wide: the step's
//     container can reach that one address and port too (it has no
//     credentials for it).
//   - agent containers run as root, with every capability dropped but those
//     that applying layers and reading the step's files need (CHOWN,
//     DAC_OVERRIDE, FOWNER, FSETID, SETFCAP): the namespace must admit the
//     baseline Pod Security level, not restricted.
//
// kube talks to the API server with its own client (internal/rest, over
// net/http and encoding/json) and its own copy of the few API types it uses
// (internal/k8s, with upstream's names and JSON tags): the binary links no
// k8s.io module, so no pipe process pays their package inits.
// internal/depcheck keeps it so.
//
// kube never builds or pushes images, never reads or writes the cache registry
// itself, knows nothing of pipelines, and imports nothing else of pipe's (the
// agent that runs inside the pod is executor/podagent; the names of the
// contract between the two are in pod.go and agent.go). It never logs a secret
// value: values live only in the run's Secret and reach the step's container
// as secretKeyRef.
package kube
