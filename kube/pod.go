package kube

import (
	"fmt"
	"math"
	"sort"
	"strings"

	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	metav1 "github.com/pipe-run/pipe/kube/internal/k8s/metav1"
	"github.com/pipe-run/pipe/kube/internal/k8s/resource"
)

// The names of a step's pod that executor/podagent relies on (BRIEF: the
// pod contract). Changing one breaks the agent.
const (
	ContainerInit = "pipe-init" // init container: fetch and apply the workspace layers
	ContainerPush = "pipe-push" // native sidecar: diff /workspace, push it
	ContainerStep = "step"      // the step's own container, behind the run wrapper

	VolumeWorkspace = "workspace"     // emptyDir at MountWorkspace, in every container
	VolumePipe      = "pipe"          // emptyDir at MountPipe: the agent binary and its state files
	VolumeRegistry  = "pipe-registry" // the run's Secret (config.json, CA), in the agent containers only

	MountWorkspace = "/workspace"
	MountPipe      = "/.pipe"
	MountRegistry  = "/.pipe-registry"
	MountVolumes   = "/.pipe-volumes" // cache volume i at MountVolumes/<i> in the agent containers

	// AgentBinary is where the agent image holds pipe's static binary, and
	// WrapperBinary the copy pipe-init leaves for the step's container.
	AgentBinary   = "/pipe"
	WrapperBinary = MountPipe + "/pipe"

	terminationLog = "/dev/termination-log"
)

// terminationGrace is how long the kubelet waits between SIGTERM and
// SIGKILL, at the pod's deadline and when pipe deletes it.
const terminationGrace = 10

// podInput is everything a pod is built from, so that building is a pure
// function (golden tests).
type podInput struct {
	step       *Step
	name       string // the pod's name
	runID      string
	secret     string // the run's Secret
	agentImage string
	hasCA      bool
	noAgent    bool
	host       string            // AnnotationHost
	hosts      map[string]string // extra hostAliases: name -> IP (the registry, for NetworkNone)
}

// buildPod makes the pod of one step attempt.
func buildPod(in podInput) (*corev1.Pod, error) {
	s := in.step
	user, err := parseUser(s.User)
	if err != nil {
		return nil, &StepError{Step: s.Name, Field: "user", Err: err}
	}
	spec := corev1.PodSpec{
		RestartPolicy:                 corev1.RestartPolicyNever,
		ActiveDeadlineSeconds:         deadlineSeconds(s),
		TerminationGracePeriodSeconds: ptr(int64(terminationGrace)),
		AutomountServiceAccountToken:  ptr(false),
		EnableServiceLinks:            ptr(false),
		SecurityContext: &corev1.PodSecurityContext{
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: in.secret}},
		HostAliases:      hostAliases(s.Services, in.hosts),
		Affinity:         preferNode(s.PreferNode),
		Volumes:          volumes(in),
		InitContainers:   initContainers(in),
		Containers:       []corev1.Container{stepContainer(in, user)},
	}
	if s.NetworkNone {
		// No network, no DNS: lookups fail at once instead of timing out
		// against a server the NetworkPolicy hides. The registry's name
		// comes from hostAliases.
		spec.DNSPolicy = corev1.DNSNone
		spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"127.0.0.1"}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        in.name,
			Labels:      podLabels(in),
			Annotations: map[string]string{AnnotationHost: in.host, AnnotationStep: s.Name},
		},
		Spec: spec,
	}, nil
}

// podLabels are the run's labels plus the step and the pod itself.
func podLabels(in podInput) map[string]string {
	l := runLabels(in.runID)
	l[LabelStep] = labelValue(in.step.Name)
	l[LabelPod] = in.name
	return l
}

// deadlineSeconds is Timeout rounded up to whole seconds, nil for none.
func deadlineSeconds(s *Step) *int64 {
	if s.Timeout <= 0 {
		return nil
	}
	return ptr(int64(math.Ceil(s.Timeout.Seconds())))
}

// preferNode asks the scheduler to prefer a node by name.
func preferNode(node string) *corev1.Affinity {
	if node == "" {
		return nil
	}
	term := corev1.NodeSelectorTerm{MatchFields: []corev1.NodeSelectorRequirement{{
		Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{node},
	}}}
	return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Weight: 100, Preference: term}},
	}}
}

// hostAliases maps every service name and alias to 127.0.0.1 (services
// share the pod's network namespace) and adds the extra hosts.
func hostAliases(svcs []Service, extra map[string]string) []corev1.HostAlias {
	var out []corev1.HostAlias
	var local []string
	for _, sv := range svcs {
		for _, h := range append([]string{sv.Name}, sv.Aliases...) {
			local = appendUnique(local, strings.ToLower(h))
		}
	}
	if len(local) > 0 {
		out = append(out, corev1.HostAlias{IP: "127.0.0.1", Hostnames: local})
	}
	names := make([]string, 0, len(extra))
	for h := range extra {
		names = append(names, h)
	}
	sort.Strings(names)
	for _, h := range names {
		out = append(out, corev1.HostAlias{IP: extra[h], Hostnames: []string{h}})
	}
	return out
}

// volumes are the workspace, the agent's dir and the registry Secret.
func volumes(in podInput) []corev1.Volume {
	vs := []corev1.Volume{emptyDir(VolumeWorkspace)}
	for i := range in.step.Scratch {
		vs = append(vs, emptyDir(scratchVolume(i)))
	}
	for i := range in.step.Volumes {
		vs = append(vs, emptyDir(cacheVolume(i)))
	}
	if in.noAgent {
		return vs
	}
	items := []corev1.KeyToPath{{Key: SecretKeyRegistryConfig, Path: "config.json"}}
	if in.hasCA {
		items = append(items, corev1.KeyToPath{Key: SecretKeyRegistryCA, Path: SecretKeyRegistryCA})
	}
	return append(vs, emptyDir(VolumePipe), corev1.Volume{
		Name: VolumeRegistry,
		VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			SecretName: in.secret, Items: items, DefaultMode: ptr(int32(0o400)),
		}},
	})
}

// scratchVolume names the volume of Step.Scratch[i].
func scratchVolume(i int) string { return fmt.Sprintf("scratch-%d", i) }

// cacheVolume names the volume of Step.Volumes[i].
func cacheVolume(i int) string { return fmt.Sprintf("cache-%d", i) }

// cacheVolumeMounts mount the step's cache volumes at their paths (at, nil)
// or, in the agent containers, at MountVolumes/<i>.
func cacheVolumeMounts(s *Step, at func(i int) string) []corev1.VolumeMount {
	var out []corev1.VolumeMount
	for i, v := range s.Volumes {
		p := v.Path
		if at != nil {
			p = at(i)
		}
		out = append(out, corev1.VolumeMount{Name: cacheVolume(i), MountPath: p})
	}
	return out
}

// agentVolumePath is where the agents see cache volume i: beside, never
// under, /workspace, so the workspace's diff never holds a volume.
func agentVolumePath(i int) string { return fmt.Sprintf("%s/%d", MountVolumes, i) }

func emptyDir(name string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}
}

// initContainers are pipe-init, the services and pipe-push, in that order:
// the kubelet starts each when the one before has finished (pipe-init) or
// started (a sidecar whose startupProbe passed), so the step starts on a
// full workspace with every service ready.
func initContainers(in podInput) []corev1.Container {
	var out []corev1.Container
	if !in.noAgent {
		out = append(out, agentContainer(in, ContainerInit, "init"))
	}
	for _, sv := range in.step.Services {
		out = append(out, serviceContainer(sv))
	}
	if !in.noAgent {
		push := agentContainer(in, ContainerPush, "push")
		push.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
		out = append(out, push)
	}
	return out
}

// stepContainer runs the step's argv under the agent's run wrapper.
func stepContainer(in podInput, user podUser) corev1.Container {
	s := in.step
	c := baseContainer(ContainerStep, s.Image)
	c.Command = append([]string{WrapperBinary, "pod-agent", "run", "--"}, s.Args...)
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: VolumePipe, MountPath: MountPipe})
	if in.noAgent {
		c.Command, c.VolumeMounts = s.Args, c.VolumeMounts[:1]
	}
	for i, d := range s.Scratch {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: scratchVolume(i), MountPath: d})
	}
	c.VolumeMounts = append(c.VolumeMounts, cacheVolumeMounts(s, nil)...)
	c.WorkingDir = s.Dir
	c.Env = stepEnv(s.Env, s.Secrets, in.secret, in.name)
	c.Resources = stepResources(s)
	c.SecurityContext = &corev1.SecurityContext{
		RunAsUser: user.UID, RunAsGroup: user.GID, AllowPrivilegeEscalation: ptr(false),
	}
	return c
}

// baseContainer is what every container of the pod shares.
func baseContainer(name, image string) corev1.Container {
	return corev1.Container{
		Name:                     name,
		Image:                    image,
		ImagePullPolicy:          corev1.PullIfNotPresent,
		TerminationMessagePath:   terminationLog,
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		VolumeMounts:             []corev1.VolumeMount{{Name: VolumeWorkspace, MountPath: MountWorkspace}},
	}
}

// stepResources sets requests = limits for what the step asks. A pids
// limit has no per-pod field (the kubelet's podPidsLimit is per node).
func stepResources(s *Step) corev1.ResourceRequirements {
	l := corev1.ResourceList{}
	if s.CPU > 0 {
		l[corev1.ResourceCPU] = *resource.NewMilliQuantity(int64(math.Ceil(s.CPU*1000)), resource.DecimalSI)
	}
	if s.Memory > 0 {
		l[corev1.ResourceMemory] = *resource.NewQuantity(s.Memory, resource.BinarySI)
	}
	if len(l) == 0 {
		return corev1.ResourceRequirements{}
	}
	return corev1.ResourceRequirements{Requests: l, Limits: l.DeepCopy()}
}

// stepEnv is the plain env (a later KEY wins, a secret wins over a plain
// value) and then the secrets, by name, as secretKeyRef.
func stepEnv(env []string, secrets map[string]string, secret, pod string) []corev1.EnvVar {
	var out []corev1.EnvVar
	at := map[string]int{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, isSecret := secrets[k]; isSecret {
			continue
		}
		if i, ok := at[k]; ok {
			out[i].Value = v
			continue
		}
		at[k] = len(out)
		out = append(out, corev1.EnvVar{Name: k, Value: v})
	}
	for _, k := range sortedKeys(secrets) {
		out = append(out, corev1.EnvVar{Name: k, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: secretEnvKey(pod, k),
		}}})
	}
	return out
}

// plainEnv is KEY=VALUE as EnvVars, a later KEY winning.
func plainEnv(env []string) []corev1.EnvVar {
	return stepEnv(env, nil, "", "")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func ptr[T any](v T) *T { return &v }

// podName makes a unique pod name from the step's ID.
func podName(id string) string {
	return fmt.Sprintf("%s-%s", dnsLabel(id, 40), randomSuffix(6))
}
