// Package rest is package kube's HTTP client of the Kubernetes API server,
// over net/http and encoding/json: requests with JSON bodies and answers,
// the API server's Status errors as *apierrors.StatusError, watch streams
// as watch.Interface, log streams, API warnings, a client-side rate limit.
//
// It knows no resource: package kube says which paths, parameters and types
// a request has. It never loads a kubeconfig (package kubeconfig does) and
// never retries a request.
package rest
