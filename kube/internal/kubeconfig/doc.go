// Package kubeconfig loads the connection to a Kubernetes API server by
// kubectl's rules, without client-go: an explicit file, else the files of
// KUBECONFIG (merged: the first file to set a value wins), else
// ~/.kube/config, else the in-cluster service account. It builds a
// rest.Config: the server, its TLS (CA, client certificate, server name,
// proxy) and the credentials (token, token file, basic auth, client
// certificate, exec credential plugins of client.authentication.k8s.io/v1
// and v1beta1).
//
// It never talks to the API server, and refuses what it does not
// implement (auth-provider, impersonation) with an error that says so.
package kubeconfig
