package kube

import (
	"math"
	"time"

	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	"github.com/pipe-run/pipe/kube/internal/k8s/intstr"
)

// The defaults of a service's ready check: those of a local run
// (pipeline.DefaultReady*).
const (
	defaultReadyInterval = time.Second
	defaultReadyTimeout  = 10 * time.Second
	defaultReadyRetries  = 60
)

// serviceContainerPrefix keeps service containers apart from pipe's own
// (a service may be called "step").
const serviceContainerPrefix = "svc-"

// serviceContainerName is the container a service runs in.
func serviceContainerName(name string) string {
	return serviceContainerPrefix + dnsLabel(name, 63-len(serviceContainerPrefix))
}

// serviceContainer is a native sidecar (an init container that keeps
// running) whose startupProbe gates the containers after it.
func serviceContainer(sv Service) corev1.Container {
	c := baseContainer(serviceContainerName(sv.Name), sv.Image)
	c.Command, c.Args = sv.Entrypoint, sv.Args
	c.Env = plainEnv(sv.Env)
	c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
	c.StartupProbe = startupProbe(sv)
	c.SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: ptr(false)}
	return c
}

// startupProbe is the service's ready check: an exec of Ready, else a TCP
// connect to Port, else none (started is ready).
func startupProbe(sv Service) *corev1.Probe {
	var h corev1.ProbeHandler
	switch {
	case len(sv.Ready) > 0:
		h.Exec = &corev1.ExecAction{Command: sv.Ready}
	case sv.Port > 0:
		h.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(sv.Port))}
	default:
		return nil
	}
	return &corev1.Probe{
		ProbeHandler:     h,
		PeriodSeconds:    seconds(orDuration(sv.ReadyInterval, defaultReadyInterval)),
		TimeoutSeconds:   seconds(orDuration(sv.ReadyTimeout, defaultReadyTimeout)),
		FailureThreshold: int32(orInt(sv.ReadyRetries, defaultReadyRetries)),
		SuccessThreshold: 1,
	}
}

// seconds rounds d up to whole seconds, at least 1 (a probe's unit).
func seconds(d time.Duration) int32 {
	return int32(max(1, math.Ceil(d.Seconds())))
}

func orDuration(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func orInt(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}
