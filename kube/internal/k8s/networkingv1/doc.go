// Package networkingv1 is the subset of the Kubernetes networking.k8s.io/v1
// API (k8s.io/api/networking/v1) that package kube uses: NetworkPolicy, with
// upstream's names and JSON tags.
package networkingv1
