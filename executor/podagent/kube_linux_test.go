//go:build linux

package podagent

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pipe-run/pipe/internal/testcluster"
)

// TestKubeAgentPod runs the agent as a step's pod runs it, on the real
// test cluster: the agent image (Image of pipe's binary) pulled by the
// kubelet, init applying two layers from the cluster's TLS registry with a
// password, the push native sidecar, and the run wrapper in busybox. The
// whole kube contract is kube's tests' (H2); this one checks the agent's
// side of it: exit code, both termination messages, the pushed diff.
func TestKubeAgentPod(t *testing.T) {
	c := testcluster.Get(t)
	ns := c.Namespace(t)
	exe := buildPipe(t)
	img, err := Image(exe)
	if err != nil {
		t.Fatal(err)
	}
	agentRef := c.PushImage(t, img, "pipe-agent")
	busybox := c.Busybox(t)

	r := &testRepo{repo: c.Repo(t, "cache"), opts: []remote.Option{remote.WithAuth(c.Auth()), remote.WithTransport(c.Transport())}}
	tars, layers := baseLayers(t, r)
	sp, _ := json.Marshal(r.spec(layers...))

	cs := c.Client(t)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "registry", Namespace: ns},
		Data: map[string][]byte{"registry-config.json": c.DockerConfig(), "registry-ca.pem": c.CAPEM}}
	if _, err := cs.CoreV1().Secrets(ns).Create(context.Background(), secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := agentPod(ns, agentRef, busybox, string(sp),
		[]string{"sh", "-c", "test -f src/main.go && echo hi > new && rm old && echo step-output && exit 3"})
	pod = c.RunPod(t, pod)

	step := containerStatus(pod.Status.ContainerStatuses, "step")
	push := containerStatus(pod.Status.InitContainerStatuses, "pipe-push")
	if step == nil || step.State.Terminated == nil || push == nil || push.State.Terminated == nil {
		t.Fatalf("pod ended without both containers terminated:\n%s", c.Report(ns, pod.Name))
	}
	if code := step.State.Terminated.ExitCode; code != 3 {
		t.Fatalf("step exit %d, want 3\n%s", code, c.Report(ns, pod.Name))
	}
	var m Termination
	if err := json.Unmarshal([]byte(step.State.Terminated.Message), &m); err != nil || m.Exit != 3 || m.Diff == nil {
		t.Fatalf("step's termination message %q (%v)\n%s", step.State.Terminated.Message, err, c.Report(ns, pod.Name))
	}
	var pm Pushed
	if err := json.Unmarshal([]byte(push.State.Terminated.Message), &pm); err != nil || pm.Layer != *m.Diff {
		t.Errorf("push's termination message %q (%v), want the diff %+v", push.State.Terminated.Message, err, *m.Diff)
	}
	t.Logf("step: exit %d, message %s", step.State.Terminated.ExitCode, step.State.Terminated.Message)
	t.Logf("pipe-push: exit %d, message %s", push.State.Terminated.ExitCode, push.State.Terminated.Message)
	if push.State.Terminated.ExitCode != 0 {
		t.Errorf("pipe-push exited %d, want 0 on SIGTERM", push.State.Terminated.ExitCode)
	}
	if logs := c.Logs(t, ns, pod.Name, "step"); !strings.Contains(logs, "step-output") {
		t.Errorf("step log: %q", logs)
	}
	got := applyAll(t, append(tars, r.fetchTar(t, *m.Diff))...)
	want := applyAll(t, append(tars, layerTar(t, file("new", "hi\n"), file(".wh.old", "")))...)
	if diff := cmp.Diff(names(describeTree(t, want)), names(describeTree(t, got))); diff != "" {
		t.Errorf("layers + the pod's diff -want +got:\n%s", diff)
	}
	if b, err := os.ReadFile(filepath.Join(got, "new")); err != nil || string(b) != "hi\n" {
		t.Errorf("new after the pod's diff: %q %v", b, err)
	}

	// A step of another user writes /.pipe/done and its termination log too.
	t.Run("NonRootStep", func(t *testing.T) {
		pod := agentPod(ns, agentRef, busybox, string(sp), []string{"sh", "-c", "id -u > mine"})
		pod.Name = "agent-user"
		uid := int64(1000)
		pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: &uid, RunAsGroup: &uid}
		pod = c.RunPod(t, pod)
		step := containerStatus(pod.Status.ContainerStatuses, "step")
		if step == nil || step.State.Terminated == nil || step.State.Terminated.ExitCode != 0 {
			t.Fatalf("step as uid 1000:\n%s", c.Report(ns, pod.Name))
		}
		var m Termination
		if err := json.Unmarshal([]byte(step.State.Terminated.Message), &m); err != nil || m.Diff == nil {
			t.Fatalf("termination message %q (%v)", step.State.Terminated.Message, err)
		}
		got := applyAll(t, append(tars, r.fetchTar(t, *m.Diff))...)
		fi, err := os.Stat(filepath.Join(got, "mine"))
		if b, _ := os.ReadFile(filepath.Join(got, "mine")); err != nil || string(b) != "1000\n" || ownerOf(fi) != " 1000:1000" {
			t.Errorf("mine: %q %v owner%s", b, err, ownerOf(fi))
		}
	})
}

// names keeps the path of each line of describeTree.
func names(lines []string) []string {
	var out []string
	for _, l := range lines {
		out = append(out, strings.Fields(l)[0])
	}
	return out
}

func containerStatus(ss []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range ss {
		if ss[i].Name == name {
			return &ss[i]
		}
	}
	return nil
}

// agentPod is the pod of the contract (BRIEF.md), with no services.
func agentPod(ns, agent, image, spec string, argv []string) *corev1.Pod {
	always := corev1.ContainerRestartPolicyAlways
	mounts := []corev1.VolumeMount{{Name: "workspace", MountPath: "/workspace"}, {Name: "pipe", MountPath: "/.pipe"}}
	agentMounts := append(append([]corev1.VolumeMount{}, mounts...), corev1.VolumeMount{Name: "pipe-registry", MountPath: "/.pipe-registry", ReadOnly: true})
	env := []corev1.EnvVar{{Name: SpecEnv, Value: spec}, {Name: "DOCKER_CONFIG", Value: "/.pipe-registry"},
		{Name: CAEnv, Value: "/.pipe-registry/registry-ca.pem"}}
	f := false
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: &f,
			Volumes: []corev1.Volume{
				{Name: "workspace", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "pipe", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "pipe-registry", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "registry",
					Items: []corev1.KeyToPath{{Key: "registry-config.json", Path: "config.json"}, {Key: "registry-ca.pem", Path: "registry-ca.pem"}}}}},
			},
			InitContainers: []corev1.Container{
				{Name: "pipe-init", Image: agent, Command: []string{ImagePath, "pod-agent", "init"}, Env: env, VolumeMounts: agentMounts},
				{Name: "pipe-push", Image: agent, Command: []string{ImagePath, "pod-agent", "push"}, Env: env, VolumeMounts: agentMounts, RestartPolicy: &always},
			},
			Containers: []corev1.Container{
				{Name: "step", Image: image, Command: append([]string{"/.pipe/pipe", "pod-agent", "run", "--"}, argv...), WorkingDir: "/workspace", VolumeMounts: mounts},
			},
		},
	}
}
