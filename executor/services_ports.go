package executor

import (
	"context"
	"net"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pipe-run/pipe/isolation"
	"github.com/pipe-run/pipe/pipeline"
)

// exposedPorts lists the TCP ports an image exposes, sorted.
func exposedPorts(cfg *v1.ConfigFile) []string {
	if cfg == nil {
		return nil
	}
	var out []string
	for p := range cfg.Config.ExposedPorts {
		num, proto, _ := strings.Cut(p, "/")
		if proto == "" || proto == "tcp" {
			out = append(out, num)
		}
	}
	sort.Strings(out)
	return out
}

// waitPorts waits until each port of sv accepts a connection on the step's
// network, up to pipeline.ServicePortWait in all. A port still closed then
// is a note in the step's log, not a failure (the service may listen
// elsewhere), as GitLab's runner goes on after its wait; a service that
// exits meanwhile fails the step.
func (s *serviceSet) waitPorts(ctx context.Context, sv *service) error {
	if len(sv.ports) == 0 {
		return nil
	}
	deadline := time.Now().Add(pipeline.ServicePortWait)
	for _, port := range sv.ports {
		addr := net.JoinHostPort("127.0.0.1", port)
		for !s.dial(addr) {
			if err := sv.exitedEarly(s.step); err != nil {
				return err
			}
			if time.Now().After(deadline) {
				s.log.Note("service %s: port %s is not open after %s; the step starts anyway", sv.def.Name, port, pipeline.ServicePortWait)
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-sv.exited:
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// dial reports whether addr accepts a TCP connection on the step's
// network: its namespace, or the host's for a step with network host.
func (s *serviceSet) dial(addr string) bool {
	if s.ns != nil {
		return isolation.DialIn(s.ns.Path(), addr, time.Second) == nil
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}
