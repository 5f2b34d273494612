// Package testcluster gives tests the real single-node Kubernetes cluster
// that scripts/k8s/up starts (v1.37.2 on containerd and runc, every listener
// on 127.0.0.1) and its TLS registry on the pod bridge's address
// 10.244.0.1:5000, which the host, containerd and pods all reach.
//
// Get reads the cluster's facts from $PIPE_K8S_DIR/env. Without a cluster
// the test is skipped, unless PIPE_K8S=1 (set by make test-k8s), in which
// case it fails: a cluster that did not come up never reads as green.
// Every test works in its own namespace and its own registry repository, so
// tests can share one cluster.
//
// It is test support: the product packages never import it.
package testcluster
