// Package types holds the small shared types of the Kubernetes API
// (k8s.io/apimachinery/pkg/types) that package kube uses.
package types

// UID is an object's unique ID, set by the API server.
type UID string

// PatchType is the media type of a PATCH request's body.
type PatchType string

// MergePatchType is a JSON merge patch (RFC 7386).
const MergePatchType PatchType = "application/merge-patch+json"
