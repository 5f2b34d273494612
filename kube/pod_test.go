package kube

import (
	kcorev1 "k8s.io/api/core/v1"

	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

const (
	testDigest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	testDiffID = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	testSecret = "s3cr3t-value-must-not-leak"
)

// fullStep uses every field that shapes the pod.
func fullStep() *Step {
	return &Step{
		Name: "Build_all", ID: "build-all-1",
		Image: "registry.test:5000/img@" + testDigest,
		Args:  []string{"sh", "-e", "-c", "make all"},
		Env:   []string{"A=1", "B=2", "A=3", "TOKEN=plain-loses"},
		Secrets: map[string]string{
			"TOKEN": testSecret, "API_KEY": testSecret + "-2",
		},
		Dir: "/workspace/src", User: "1000:2000",
		CPU: 1.5, Memory: 256 << 20, Pids: 100,
		Timeout:     90*time.Second + time.Millisecond,
		NetworkNone: true,
		Repo:        "registry.test:5000/pipe/cache",
		Workspace: []Layer{
			{Digest: testDigest, DiffID: testDiffID, Size: 10, MediaType: "application/vnd.oci.image.layer.v1.tar+gzip"},
		},
		Services: []Service{
			{Name: "db", Aliases: []string{"Postgres", "db.local"}, Image: "registry.test:5000/postgres@" + testDigest,
				Env: []string{"POSTGRES_PASSWORD=x"}, Ready: []string{"pg_isready", "-h", "127.0.0.1"}},
			{Name: "cache", Image: "registry.test:5000/redis@" + testDigest, Entrypoint: []string{"redis-server"},
				Args: []string{"--port", "6380"}, Port: 6380, ReadyInterval: 2 * time.Second, ReadyRetries: 5},
			{Name: "plain", Image: "registry.test:5000/busybox@" + testDigest, Args: []string{"sleep", "1d"}},
		},
		Scratch: []string{"/root/.cache", "/var/cache/apt"},
		Volumes: []Volume{
			{Path: "/cache/go-mod", Layer: Layer{Digest: testDigest, DiffID: testDiffID, Size: 20, MediaType: "application/vnd.oci.image.layer.v1.tar+zstd"}},
			{Path: "/workspace/.npm", Layer: Layer{Digest: testDigest, DiffID: testDiffID, Size: 30, MediaType: "application/vnd.oci.image.layer.v1.tar+zstd"}},
		},
		PreferNode: "node-1",
	}
}

func fullInput() podInput {
	return podInput{
		step: fullStep(), name: "build-all-1-abc123", runID: "20261128T120000Z-abcd", secret: "pipe-20261128t120000z-abcd-1f2e3d4c",
		agentImage: "registry.test:5000/pipe/cache:pipe-agent-0123456789ab", hasCA: true,
		host: "worker-1", hosts: map[string]string{"registry.test": "10.0.0.5"},
	}
}

func TestPodGolden(t *testing.T) {
	minimal := podInput{
		step: &Step{Name: "t", ID: "t", Image: "busybox", Args: []string{"true"}},
		name: "t-xyz789", runID: "r1", secret: "pipe-r1", noAgent: true, host: "h",
	}
	for name, in := range map[string]podInput{"pod-full": fullInput(), "pod-noagent": minimal} {
		t.Run(name, func(t *testing.T) {
			pod, err := buildPod(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(pod, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", name+".json"), append(got, '\n'))
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./kube -run %s -update to write it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what the builder makes now; if the change is meant, run with -update and review the diff\ngot:\n%s", path, got)
	}
}

func TestPodNeverHoldsSecretValues(t *testing.T) {
	pod, err := buildPod(fullInput())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(pod)
	if bytes.Contains(raw, []byte(testSecret)) {
		t.Fatalf("the pod spec holds a secret value: %s", raw)
	}
	step := pod.Spec.Containers[0]
	refs := map[string]string{}
	for _, e := range step.Env {
		if e.Name == "TOKEN" && e.ValueFrom == nil {
			t.Errorf("TOKEN is a plain value %q, want the secret's secretKeyRef", e.Value)
		}
		if e.ValueFrom != nil {
			refs[e.Name] = e.ValueFrom.SecretKeyRef.Key
			if e.ValueFrom.SecretKeyRef.Name != fullInput().secret {
				t.Errorf("%s refers to Secret %s", e.Name, e.ValueFrom.SecretKeyRef.Name)
			}
		}
	}
	want := map[string]string{"TOKEN": "env-build-all-1-abc123-TOKEN", "API_KEY": "env-build-all-1-abc123-API_KEY"}
	for k, v := range want {
		if refs[k] != v {
			t.Errorf("secretKeyRef of %s = %q, want %q", k, refs[k], v)
		}
	}
	for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers[1:]...) {
		for _, e := range c.Env {
			if e.ValueFrom != nil {
				t.Errorf("container %s gets secret %s: only the step may", c.Name, e.Name)
			}
		}
	}
}

// The registry credentials reach the agents only: the step's own code and
// the services never see them.
func TestRegistrySecretOnlyInAgents(t *testing.T) {
	pod, err := buildPod(fullInput())
	if err != nil {
		t.Fatal(err)
	}
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range all {
		agent := c.Name == ContainerInit || c.Name == ContainerPush
		mounted, hasWorkspace := false, false
		for _, m := range c.VolumeMounts {
			if m.Name == VolumeRegistry {
				mounted = true
				if !m.ReadOnly {
					t.Errorf("%s mounts the registry Secret writable", c.Name)
				}
			}
			hasWorkspace = hasWorkspace || (m.Name == VolumeWorkspace && m.MountPath == MountWorkspace)
		}
		if mounted != agent {
			t.Errorf("container %s: registry Secret mounted = %v, want %v", c.Name, mounted, agent)
		}
		if !hasWorkspace {
			t.Errorf("container %s has no /workspace", c.Name)
		}
		if c.ImagePullPolicy != corev1.PullIfNotPresent || c.TerminationMessagePolicy != corev1.TerminationMessageReadFile {
			t.Errorf("container %s: pull policy %s, termination message policy %s", c.Name, c.ImagePullPolicy, c.TerminationMessagePolicy)
		}
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Privileged != nil {
			t.Errorf("container %s may escalate privileges: %+v", c.Name, sc)
		}
		if agent && (sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL") {
			t.Errorf("agent %s does not drop ALL capabilities: %+v", c.Name, sc.Capabilities)
		}
	}
	for _, v := range convert[kcorev1.Pod](pod).Spec.Volumes { // as the API server reads it
		if v.HostPath != nil {
			t.Errorf("volume %s is a hostPath", v.Name)
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil {
			for _, it := range v.Secret.Items {
				if strings.HasPrefix(it.Key, secretKeyEnvPrefix) {
					t.Errorf("the registry volume projects the secret env key %s", it.Key)
				}
			}
		}
	}
}

func TestPodShape(t *testing.T) {
	pod, err := buildPod(fullInput())
	if err != nil {
		t.Fatal(err)
	}
	sp := pod.Spec
	var order []string
	for _, c := range sp.InitContainers {
		order = append(order, c.Name)
	}
	if got := strings.Join(order, ","); got != "pipe-init,svc-db,svc-cache,svc-plain,pipe-push" {
		t.Errorf("init containers in order %s", got)
	}
	if sp.InitContainers[0].RestartPolicy != nil {
		t.Error("pipe-init must be a plain init container")
	}
	for _, c := range sp.InitContainers[1:] {
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			t.Errorf("%s is not a native sidecar", c.Name)
		}
	}
	if p := sp.InitContainers[1].StartupProbe; p == nil || p.Exec == nil || p.FailureThreshold != 60 || p.PeriodSeconds != 1 || p.TimeoutSeconds != 10 {
		t.Errorf("db's startup probe: %+v", p)
	}
	if p := sp.InitContainers[2].StartupProbe; p == nil || p.TCPSocket == nil || p.TCPSocket.Port.IntValue() != 6380 || p.PeriodSeconds != 2 || p.FailureThreshold != 5 {
		t.Errorf("cache's startup probe: %+v", p)
	}
	if sp.InitContainers[3].StartupProbe != nil {
		t.Error("a service without a check has a startup probe")
	}
	step := sp.Containers[0]
	if got := strings.Join(step.Command, " "); got != "/.pipe/pipe pod-agent run -- sh -e -c make all" {
		t.Errorf("step command %q", got)
	}
	if *step.SecurityContext.RunAsUser != 1000 || *step.SecurityContext.RunAsGroup != 2000 {
		t.Errorf("step user %+v", step.SecurityContext)
	}
	if !equalResources(step.Resources.Requests, step.Resources.Limits) || step.Resources.Limits.Cpu().MilliValue() != 1500 || step.Resources.Limits.Memory().Value() != 256<<20 {
		t.Errorf("step resources %+v", step.Resources)
	}
	if *sp.ActiveDeadlineSeconds != 91 || *sp.AutomountServiceAccountToken || *sp.EnableServiceLinks || sp.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("pod settings %+v", sp)
	}
	if sp.HostNetwork || sp.HostPID || sp.HostIPC {
		t.Error("the pod shares a host namespace")
	}
	if sp.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("no RuntimeDefault seccomp")
	}
	hosts := map[string]string{}
	for _, h := range sp.HostAliases {
		for _, n := range h.Hostnames {
			hosts[n] = h.IP
		}
	}
	for n, ip := range map[string]string{"db": "127.0.0.1", "postgres": "127.0.0.1", "db.local": "127.0.0.1", "cache": "127.0.0.1", "registry.test": "10.0.0.5"} {
		if hosts[n] != ip {
			t.Errorf("host %s -> %q, want %s", n, hosts[n], ip)
		}
	}
	var env []string
	for _, e := range step.Env {
		if e.ValueFrom == nil {
			env = append(env, e.Name+"="+e.Value)
		}
	}
	if got := strings.Join(env, " "); got != "A=3 B=2" {
		t.Errorf("plain env %q: want a later A to win and the secret TOKEN to replace the plain one", got)
	}
	if pod.Labels[LabelStep] != "Build_all" || pod.Labels[LabelRun] != "20261128T120000Z-abcd" || pod.Labels[LabelManagedBy] != "pipe" || pod.Labels[LabelPod] != pod.Name {
		t.Errorf("labels %v", pod.Labels)
	}
}

func TestScratchDirsOnlyInTheStep(t *testing.T) {
	pod, err := buildPod(fullInput())
	if err != nil {
		t.Fatal(err)
	}
	mounts := map[string]string{}
	for _, m := range pod.Spec.Containers[0].VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	if mounts["/root/.cache"] != "scratch-0" || mounts["/var/cache/apt"] != "scratch-1" {
		t.Errorf("step mounts %v", mounts)
	}
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, "scratch-") && v.EmptyDir == nil {
			t.Errorf("%s is not an emptyDir", v.Name)
		}
	}
	for _, c := range pod.Spec.InitContainers {
		for _, m := range c.VolumeMounts {
			if strings.HasPrefix(m.Name, "scratch-") {
				t.Errorf("%s mounts %s", c.Name, m.Name)
			}
		}
	}
}

// TestCacheVolumeMounts: each cache volume is an emptyDir at its path in
// the step's container and at /.pipe-volumes/<i> in both agents (never
// under /workspace there, so the workspace's diff never holds it); its
// content's layer is in the agents' spec; services do not mount it.
func TestCacheVolumeMounts(t *testing.T) {
	pod, err := buildPod(fullInput())
	if err != nil {
		t.Fatal(err)
	}
	mountsOf := func(c corev1.Container) map[string]string {
		m := map[string]string{}
		for _, vm := range c.VolumeMounts {
			m[vm.Name] = vm.MountPath
		}
		return m
	}
	if m := mountsOf(pod.Spec.Containers[0]); m["cache-0"] != "/cache/go-mod" || m["cache-1"] != "/workspace/.npm" {
		t.Errorf("step mounts %v", m)
	}
	for _, c := range pod.Spec.InitContainers {
		m := mountsOf(c)
		agent := c.Name == ContainerInit || c.Name == ContainerPush
		if agent && (m["cache-0"] != "/.pipe-volumes/0" || m["cache-1"] != "/.pipe-volumes/1") {
			t.Errorf("%s mounts %v", c.Name, m)
		}
		if !agent && (m["cache-0"] != "" || m["cache-1"] != "") {
			t.Errorf("service %s mounts a cache volume: %v", c.Name, m)
		}
		if !agent {
			continue
		}
		var spec AgentSpec
		for _, e := range c.Env {
			if e.Name == EnvAgentSpec {
				json.Unmarshal([]byte(e.Value), &spec)
			}
		}
		if len(spec.Volumes) != 2 || spec.Volumes[0].Size != 20 || spec.Volumes[1].Size != 30 {
			t.Errorf("%s: agent spec volumes %+v", c.Name, spec.Volumes)
		}
	}
	n := 0
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, "cache-") {
			n++
			if v.EmptyDir == nil {
				t.Errorf("%s is not an emptyDir", v.Name)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d cache volumes in the pod, want 2", n)
	}
}

func TestAgentSpecEnv(t *testing.T) {
	pod, err := buildPod(fullInput())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []corev1.Container{pod.Spec.InitContainers[0], pod.Spec.InitContainers[4]} {
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		var spec AgentSpec
		if err := json.Unmarshal([]byte(env[EnvAgentSpec]), &spec); err != nil {
			t.Fatalf("%s: %s is not JSON: %v", c.Name, EnvAgentSpec, err)
		}
		if spec.Repo != "registry.test:5000/pipe/cache" || len(spec.Layers) != 1 || spec.Layers[0].Digest != testDigest {
			t.Errorf("%s: spec %+v", c.Name, spec)
		}
		if env[EnvDockerConfig] != "/.pipe-registry" || env[EnvCertFile] != "/.pipe-registry/registry-ca.pem" {
			t.Errorf("%s: env %v", c.Name, env)
		}
	}
}

func TestNoLimitsNoResources(t *testing.T) {
	in := fullInput()
	in.step.CPU, in.step.Memory, in.step.Timeout, in.step.User = 0, 0, 0, ""
	pod, err := buildPod(in)
	if err != nil {
		t.Fatal(err)
	}
	c := pod.Spec.Containers[0]
	if len(c.Resources.Limits) != 0 || pod.Spec.ActiveDeadlineSeconds != nil || c.SecurityContext.RunAsUser != nil {
		t.Errorf("unset limits/timeout/user produced %+v %v %+v", c.Resources, pod.Spec.ActiveDeadlineSeconds, c.SecurityContext)
	}
}

func equalResources(a, b corev1.ResourceList) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok || v.Cmp(w) != 0 {
			return false
		}
	}
	return true
}
