// Package metav1 is the subset of the Kubernetes meta/v1 API
// (k8s.io/apimachinery/pkg/apis/meta/v1) that package kube uses: object and
// list metadata, the request options, Status and Time, with upstream's names
// and JSON tags.
package metav1
