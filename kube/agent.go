package kube

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
)

// The env of the agent containers (BRIEF: the agent spec).
const (
	EnvAgentSpec    = "PIPE_AGENT_SPEC" // JSON AgentSpec
	EnvDockerConfig = "DOCKER_CONFIG"   // MountRegistry: config.json there
	EnvCertFile     = "SSL_CERT_FILE"   // MountRegistry/registry-ca.pem, when there is a CA
)

// AgentSpec is what pipe-init and pipe-push read from PIPE_AGENT_SPEC.
type AgentSpec struct {
	Repo     string  `json:"repo"`              // host:port/path of the cache repository
	Layers   []Layer `json:"layers"`            // the workspace, lowest first
	Volumes  []Layer `json:"volumes,omitempty"` // cache volume i's content, applied at MountVolumes/<i>
	Insecure bool    `json:"insecure"`          // plain HTTP (or unverified TLS) to the registry
}

// agentCaps are the only capabilities the agents keep, all others dropped:
// applying layers sets owners, modes and set-id bits of files that are not
// root's (CHOWN, FOWNER, FSETID) and file capabilities (SETFCAP), in
// directories root does not own, and the diff reads files only their owner
// may (DAC_OVERRIDE, which covers reading and searching). All five are in
// the baseline Pod Security level.
var agentCaps = []corev1.Capability{"CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "SETFCAP"}

// agentContainer is pipe-init or pipe-push: the agent image running one of
// pipe's pod-agent subcommands as root with the few capabilities above.
func agentContainer(in podInput, name, sub string) corev1.Container {
	c := baseContainer(name, in.agentImage)
	c.Command = []string{AgentBinary, "pod-agent", sub}
	c.VolumeMounts = append(c.VolumeMounts,
		corev1.VolumeMount{Name: VolumePipe, MountPath: MountPipe},
		corev1.VolumeMount{Name: VolumeRegistry, MountPath: MountRegistry, ReadOnly: true})
	c.VolumeMounts = append(c.VolumeMounts, cacheVolumeMounts(in.step, agentVolumePath)...)
	as := AgentSpec{Repo: in.step.Repo, Layers: nonNil(in.step.Workspace), Insecure: in.step.Insecure}
	for _, v := range in.step.Volumes {
		as.Volumes = append(as.Volumes, v.Layer)
	}
	spec, _ := json.Marshal(as)
	c.Env = []corev1.EnvVar{
		{Name: EnvAgentSpec, Value: string(spec)},
		{Name: EnvDockerConfig, Value: MountRegistry},
	}
	if in.hasCA {
		c.Env = append(c.Env, corev1.EnvVar{Name: EnvCertFile, Value: MountRegistry + "/" + SecretKeyRegistryCA})
	}
	c.SecurityContext = &corev1.SecurityContext{
		RunAsUser: ptr(int64(0)), RunAsGroup: ptr(int64(0)), RunAsNonRoot: ptr(false),
		AllowPrivilegeEscalation: ptr(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: agentCaps},
	}
	return c
}

func nonNil(l []Layer) []Layer {
	if l == nil {
		return []Layer{}
	}
	return l
}

// pushReport is pipe-push's termination message, written when the kubelet
// stops it after the step container ended: the pushed diff's descriptor,
// {"unchanged":true}, or {"error":"..."}. Run takes the diff from it, not
// from the step container's message: the step's script can write to
// /.pipe (the wrapper's state), and so could forge the wrapper's report,
// but it cannot write another container's termination log.
type pushReport struct {
	Layer
	Unchanged bool     `json:"unchanged"`
	Volumes   []*Layer `json:"volumes"` // the cache volumes' diffs (nil: unchanged)
	Error     string   `json:"error"`
}

// parsePushReport reads pipe-push's message. It must be well formed: the
// diff's digest becomes a path in the coordinator's store.
func parsePushReport(msg string) (*pushReport, error) {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return nil, errors.New("pipe-push ended without a report")
	}
	var r pushReport
	dec := json.NewDecoder(strings.NewReader(msg))
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("pipe-push's report is not JSON: %w", err)
	}
	if dec.More() {
		return nil, errors.New("pipe-push's report has data after its JSON")
	}
	switch {
	case r.Error != "":
		return &r, nil
	case r.Unchanged && r.Digest != "":
		return nil, errors.New("pipe-push's report says unchanged and names a diff")
	case !r.Unchanged:
		if err := r.Layer.check(); err != nil {
			return nil, fmt.Errorf("pipe-push's report: diff: %w", err)
		}
	}
	for i, l := range r.Volumes {
		if l == nil {
			continue
		}
		if err := l.check(); err != nil {
			return nil, fmt.Errorf("pipe-push's report: cache volume %d: %w", i, err)
		}
	}
	return &r, nil
}

// stepSaysOOM reads the "oom" of the step wrapper's termination message:
// the wrapper counts the OOM killer's kills in the container's cgroup,
// which the kubelet's reason OOMKilled misses now and then. The step's
// script could write that message too, but it would only call its own
// failure an out-of-memory kill; the diff is never taken from it.
func stepSaysOOM(msg string) bool {
	var m struct {
		OOM bool `json:"oom"`
	}
	return json.Unmarshal([]byte(strings.TrimSpace(msg)), &m) == nil && m.OOM
}
