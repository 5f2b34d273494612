package testcluster

import (
	"encoding/base64"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pipe-run/pipe/internal/testimage"
)

func TestParseEnv(t *testing.T) {
	good := "# comment\n\nexport PIPE_K8S_DIR=/d\nexport KUBECONFIG=/d/admin.kubeconfig\nexport PIPE_K8S_REGISTRY=10.244.0.1:5000\n" +
		"export PIPE_K8S_REGISTRY_CA=/d/pki/registry-ca.crt\nexport PIPE_K8S_REGISTRY_USER=pipe\nexport PIPE_K8S_REGISTRY_PASSWORD=a=b\n"
	env, err := parseEnv("env", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if env["PIPE_K8S_REGISTRY"] != "10.244.0.1:5000" || env["PIPE_K8S_REGISTRY_PASSWORD"] != "a=b" {
		t.Errorf("parsed %v", env)
	}
	for _, tc := range []struct{ name, text, want string }{
		{"missing key", strings.Replace(good, "export KUBECONFIG=/d/admin.kubeconfig\n", "", 1), "KUBECONFIG missing"},
		{"empty value", strings.Replace(good, "USER=pipe", "USER=", 1), "PIPE_K8S_REGISTRY_USER missing or empty"},
		{"not an assignment", good + "rm -rf /\n", "env:9: want `export KEY=VALUE`"},
		{"twice", good + "export KUBECONFIG=/elsewhere\n", "env:9: KUBECONFIG set twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseEnv("env", []byte(tc.text))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestLoadWithoutCluster(t *testing.T) {
	dir := t.TempDir()
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), "scripts/k8s/up "+dir) {
		t.Errorf("got %v, want an error saying how to start a cluster", err)
	}
}

func TestUniqueName(t *testing.T) {
	a, b := uniqueName(t, "t", 63), uniqueName(t, "t", 63)
	if a == b || !strings.HasPrefix(a, "t-testuniquename-") {
		t.Errorf("names %q, %q: want distinct t-testuniquename-<hex>", a, b)
	}
	t.Run("Long/Name_With.Odd CHARS/"+strings.Repeat("x", 80), func(t *testing.T) {
		n := uniqueName(t, "t", 63)
		if len(n) > 63 || strings.Contains(n, "--") || strings.ToLower(n) != n || !strings.HasPrefix(n, "t-testuniquename-long-name-with-odd-chars-") {
			t.Errorf("name %q is no DNS label of at most 63 characters", n)
		}
	})
}

// busyboxPod is a pod of one busybox container running script.
func busyboxPod(ns, name, image, script string) *corev1.Pod {
	no := false
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			AutomountServiceAccountToken:  &no,
			TerminationGracePeriodSeconds: new(int64),
			Containers: []corev1.Container{{Name: "main", Image: image, ImagePullPolicy: corev1.PullAlways,
				Command: []string{"sh", "-c", script}}},
		},
	}
}

// terminated is the main container's terminated state; the test fails
// when it has none.
func terminated(t *testing.T, c *Cluster, p *corev1.Pod) *corev1.ContainerStateTerminated {
	t.Helper()
	if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Terminated == nil {
		t.Fatalf("pod %s has no terminated container:\n%s", p.Name, c.Report(p.Namespace, p.Name))
	}
	return p.Status.ContainerStatuses[0].State.Terminated
}

// A pod runs an image that exists only in the cluster's registry (pulled
// with the registry's CA and credentials by containerd), and its output and
// exit code come back.
func TestKubePodFromRegistryImage(t *testing.T) {
	c := Get(t)
	marker, err := testimage.FilesTar(testimage.File{Path: "marker", Body: "pushed by " + t.Name() + "\n"})
	if err != nil {
		t.Fatal(err)
	}
	layer, err := testimage.LayerFromTar(marker)
	if err != nil {
		t.Fatal(err)
	}
	ref := c.Busybox(t, layer)
	if !strings.HasPrefix(ref, c.Registry+"/") || !strings.Contains(ref, "@sha256:") {
		t.Fatalf("PushImage gave %q, want %s/...@sha256:...", ref, c.Registry)
	}
	ns := c.Namespace(t)
	p := c.RunPod(t, busyboxPod(ns, "marker", ref, "cat /marker; exit 3"))
	if term := terminated(t, c, p); term.ExitCode != 3 || p.Status.Phase != corev1.PodFailed {
		t.Errorf("exit %d phase %s, want 3 and Failed:\n%s", term.ExitCode, p.Status.Phase, c.Report(ns, p.Name))
	}
	if got, want := c.Logs(t, ns, p.Name, "main"), "pushed by "+t.Name()+"\n"; got != want {
		t.Errorf("log %q, want %q", got, want)
	}
	if p.Spec.NodeName != Node {
		t.Errorf("ran on node %q, want %q", p.Spec.NodeName, Node)
	}
}

// An image the registry does not have is an image pull error, not a pod
// that hangs or runs something else.
func TestKubeMissingImageFailsToPull(t *testing.T) {
	c := Get(t)
	ns := c.Namespace(t)
	ref := c.Repo(t, "absent") + ":nope"
	cs := c.Client(t)
	if _, err := cs.CoreV1().Pods(ns).Create(t.Context(), busyboxPod(ns, "absent", ref, "true"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.WaitPod(t, ns, "absent", "failing to pull", func(p *corev1.Pod) bool {
		for _, s := range p.Status.ContainerStatuses {
			if w := s.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") {
				return true
			}
		}
		return false
	})
}

// Pods reach the registry on the bridge's address, where the design puts
// the cache repository: with the credentials it answers, without them it
// asks for them.
func TestKubeRegistryReachableFromPod(t *testing.T) {
	c := Get(t)
	if c.Registry != BridgeAddr+":5000" {
		t.Fatalf("registry %s, want %s:5000 (scripts/k8s/up's address)", c.Registry, BridgeAddr)
	}
	ns := c.Namespace(t)
	ref := c.Busybox(t)
	auth := base64.StdEncoding.EncodeToString([]byte(c.User + ":" + c.Password))
	script := "wget -q --no-check-certificate -O - --header 'Authorization: Basic " + auth + "' https://" + c.Registry + "/v2/ && echo AUTH-OK; " +
		"wget -q --no-check-certificate -O - https://" + c.Registry + "/v2/ 2>&1 || echo ANON-REFUSED"
	p := c.RunPod(t, busyboxPod(ns, "reach", ref, script))
	log := c.Logs(t, ns, p.Name, "main")
	if term := terminated(t, c, p); term.ExitCode != 0 {
		t.Fatalf("exit %d, log:\n%s", term.ExitCode, log)
	}
	if !strings.Contains(log, "{}AUTH-OK") && !strings.Contains(log, "{}\nAUTH-OK") {
		t.Errorf("with credentials the registry did not answer {} from the pod; log:\n%s", log)
	}
	if !strings.Contains(log, "401") || !strings.Contains(log, "ANON-REFUSED") {
		t.Errorf("without credentials the registry did not refuse with 401; log:\n%s", log)
	}
}
