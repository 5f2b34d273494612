// Package corev1 is the subset of the Kubernetes core/v1 API (k8s.io/api/core/v1)
// that package kube sends and reads: the same type names, field names and
// JSON tags, so that its JSON is the API server's, without upstream's
// package inits. Fields pipe never uses are left out; decoding drops them.
package corev1
