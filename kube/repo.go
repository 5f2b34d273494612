package kube

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// registryAddr is where a cache repository's registry listens.
type registryAddr struct {
	Host  string // a name or an IP, without brackets
	Ports []int  // the explicit port, or the defaults of the scheme(s)
}

// parseRepo splits "host[:port]/path" and finds the registry's port(s):
// the explicit one, else 443, and also 80 when insecure (plain HTTP is
// then allowed).
func parseRepo(repo string, insecure bool) (registryAddr, error) {
	hostport, path, _ := strings.Cut(repo, "/")
	if hostport == "" || path == "" || strings.Contains(repo, "://") {
		return registryAddr{}, fmt.Errorf("%q is not host[:port]/path", repo)
	}
	host, portS, err := net.SplitHostPort(hostport)
	if err != nil {
		host, portS = strings.Trim(hostport, "[]"), ""
	}
	if host == "" || strings.ContainsAny(host, " /@") {
		return registryAddr{}, fmt.Errorf("%q has no registry host", repo)
	}
	if portS == "" {
		ports := []int{443}
		if insecure {
			ports = append(ports, 80)
		}
		return registryAddr{Host: host, Ports: ports}, nil
	}
	port, err := strconv.Atoi(portS)
	if err != nil || port < 1 || port > 65535 {
		return registryAddr{}, fmt.Errorf("%q: port %q is not a TCP port", repo, portS)
	}
	return registryAddr{Host: host, Ports: []int{port}}, nil
}

// resolve finds the registry's addresses: an IP is itself, a name is
// looked up here, on the coordinator (a NetworkPolicy holds addresses, not
// names). The pod then reaches the name through hostAliases, since a pod
// without network has no DNS either.
func (b *Backend) resolve(ctx context.Context, a registryAddr) ([]net.IP, error) {
	if ip := net.ParseIP(a.Host); ip != nil {
		return []net.IP{ip}, nil
	}
	ips, err := b.lookupIP(ctx, a.Host)
	if err != nil {
		return nil, fmt.Errorf("resolve the cache registry %s for the step's NetworkPolicy: %w", a.Host, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("resolve the cache registry %s for the step's NetworkPolicy: no address", a.Host)
	}
	return ips, nil
}
