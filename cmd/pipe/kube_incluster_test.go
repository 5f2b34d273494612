package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/internal/testimage"
)

// kubeRole is what pipe needs in its namespace, as README's Kubernetes
// section gives it: TestKubeCoordinatorInCluster runs pipe with exactly
// this Role and nothing else (it may not read nodes or namespaces: pipe
// copes).
var kubeRole = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"create", "get", "list", "watch", "delete"}},
	{APIGroups: []string{""}, Resources: []string{"pods/log"}, Verbs: []string{"get"}},
	{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create", "get", "list", "patch", "delete"}},
	{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"list"}},
	{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"networkpolicies"}, Verbs: []string{"create", "get", "list", "delete"}},
}

// pipe as the coordinator inside the cluster, as a CI job running in a pod
// would use it: no kubeconfig, only the pod's service account (the
// kubeconfig rules' in-cluster case), its namespace taken from the
// service account, and only kubeRole's rights. Its steps run as pods, and
// what they pushed to the registry is a cache hit for another machine.
//
// The test cluster has no kube-proxy, and its API server listens on the
// host's 127.0.0.1 only: the coordinator's pod is on the host's network
// and is told the API server's address there (KUBERNETES_SERVICE_HOST),
// which a real cluster's kubelet sets to the kubernetes Service instead.
func TestKubeCoordinatorInCluster(t *testing.T) {
	k := newKubeEnv(t)
	c := k.c
	ctx := context.Background()
	step := c.Busybox(t)
	pipe := "version: 1\nimage: " + step + `
steps:
  gen: {run: [mkdir -p out, "echo in-cluster > out/gen.txt"], outputs: [out/**]}
  use: {needs: [gen], run: ["cat out/gen.txt src/a.txt > use.txt"]}
`
	files := map[string]string{".pipe.yml": pipe, "src/a.txt": "alpha\n"}

	bin, err := os.ReadFile(k.bin)
	if err != nil {
		t.Fatal(err)
	}
	image := []testimage.File{{Path: "usr/local/bin/pipe", Mode: 0o755, Body: string(bin)}}
	for p, body := range files {
		image = append(image, testimage.File{Path: "work/" + p, Body: body})
	}
	tb, err := testimage.FilesTar(image...)
	if err != nil {
		t.Fatal(err)
	}
	layer, err := testimage.LayerFromTar(tb)
	if err != nil {
		t.Fatal(err)
	}
	coordinator := c.Busybox(t, []v1.Layer{layer}...)

	cs := k.kclient
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "pipe", Namespace: k.ns}}
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pipe", Namespace: k.ns}, Rules: kubeRole}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "pipe", Namespace: k.ns},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "pipe", Namespace: k.ns}},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pipe"}}
	reg := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "registry", Namespace: k.ns},
		Data: map[string][]byte{"config.json": c.DockerConfig(), "ca.crt": c.CAPEM}}
	if _, err := cs.CoreV1().ServiceAccounts(k.ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().Roles(k.ns).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().RoleBindings(k.ns).Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Secrets(k.ns).Create(ctx, reg, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	yes := true
	script := "cd /work && pipe run --json --backend kubernetes --cache-to " + k.repo + " 2> /tmp/human; rc=$?; echo ---; cat /tmp/human; exit $rc"
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "coordinator", Namespace: k.ns},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			ServiceAccountName:           "pipe",
			AutomountServiceAccountToken: &yes,
			HostNetwork:                  true,
			Containers: []corev1.Container{{
				Name: "main", Image: coordinator, Command: []string{"sh", "-c", script},
				Env: []corev1.EnvVar{
					{Name: "KUBERNETES_SERVICE_HOST", Value: "127.0.0.1"},
					{Name: "KUBERNETES_SERVICE_PORT", Value: "6443"},
					{Name: "PIPE_HOME", Value: "/pipe-home"},
					{Name: "DOCKER_CONFIG", Value: "/etc/pipe-registry"},
					{Name: "SSL_CERT_FILE", Value: "/etc/pipe-registry/ca.crt"},
					{Name: "NO_COLOR", Value: "1"},
				},
				VolumeMounts: []corev1.VolumeMount{
					{Name: "registry", MountPath: "/etc/pipe-registry", ReadOnly: true},
					{Name: "home", MountPath: "/pipe-home"},
				},
			}},
			Volumes: []corev1.Volume{
				{Name: "registry", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "registry"}}},
				{Name: "home", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			},
		},
	}
	done := c.RunPod(t, pod)
	log := c.Logs(t, k.ns, pod.Name, "main")
	if term := terminated(done); term == nil || term.ExitCode != 0 {
		t.Fatalf("the coordinator in the cluster failed (%v):\n%s\n%s", term, log, c.Report(k.ns, pod.Name))
	}
	events, human, _ := strings.Cut(log, "---\n")
	var evs []runlog.Event
	for _, line := range strings.Split(strings.TrimSpace(events), "\n") {
		var ev runlog.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not an event: %q\n%s", line, log)
		}
		evs = append(evs, ev)
	}
	in := stepEvents(evs)
	for _, s := range []string{"gen", "use"} {
		if in[s].Status != runlog.StatusOK || in[s].Key == "" {
			t.Fatalf("in the cluster, step %s: %s key %q, want ok\n%s", s, in[s].Status, in[s].Key, human)
		}
	}
	if !strings.Contains(human, "2 ok") || !strings.Contains(human, "> + cat out/gen.txt src/a.txt > use.txt") {
		t.Errorf("the coordinator's output lacks the summary or the steps' logs:\n%s", human)
	}
	k.waitGone("after the in-cluster run")

	// This machine, with the same checkout: every step a hit of what the
	// pods pushed, and the result as the cluster made it.
	s := &kubeStore{k: k, home: t.TempDir(), repo: t.TempDir()}
	writeTestFiles(t, s.repo, files)
	evs, out, code := s.run(append(k.kubeArgs(), "--cache-from", k.repo)...)
	if code != 0 {
		t.Fatalf("rerun here: exit %d\n%s", code, out)
	}
	for name, ev := range stepEvents(evs) {
		if ev.Status != runlog.StatusCached || ev.Key != in[name].Key {
			t.Errorf("rerun here: step %s %s key %s, want cached with the cluster's key %s\n%s", name, ev.Status, ev.Key, in[name].Key, out)
		}
	}
	if got := treeDump(t, filepath.Join(s.home, "results", in["use"].Key, "fs")); !strings.Contains(got, "in-cluster\nalpha\n") {
		t.Errorf("use's result here:\n%s", got)
	}
}

// terminated is the main container's end, or nil.
func terminated(p *corev1.Pod) *corev1.ContainerStateTerminated {
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == "main" {
			return s.State.Terminated
		}
	}
	return nil
}
