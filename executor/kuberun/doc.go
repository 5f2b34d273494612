// Package kuberun is the executor's pod runtime on a Kubernetes cluster:
// Runtime adapts executor.PodRuntime (the executor's own description of a
// step attempt) onto package kube, and the store keeps which of this
// machine's runs are alive (HoldRun, RunLiveness) so that Prune removes
// only what dead runs left in a cluster. It sits beside the local container
// runtime: it imports executor and kube, and nothing of the executor
// imports it; cmd/pipe wires it in when a run is given a cluster.
package kuberun
