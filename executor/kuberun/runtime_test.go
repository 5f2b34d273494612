package kuberun

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor"
	"github.com/pipe-run/pipe/kube"
)

func testKubeRuntime(t *testing.T) *Runtime {
	t.Helper()
	rem, err := cache.OpenRemote("10.244.0.1:5000/team/cache", cache.RemoteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	store, err := cache.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	k, err := New(Options{Kube: kube.Config{RunID: "20261202T000000Z-abcd0123"}, Store: store, Repo: rem,
		Agent: func() (v1.Image, string, error) { return nil, "", nil }})
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// The executor's description of an attempt becomes kube's, field by field.
func TestKubeStepFromPodStep(t *testing.T) {
	k := testKubeRuntime(t)
	h := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	ps := &executor.PodStep{Name: "build", ID: "pipe-x-build-1-ab", Image: "r.example/i@sha256:" + h.Hex, Args: []string{"/bin/sh", "-e", "-c", "true"},
		Env: []string{"A=1"}, Secrets: map[string]string{"T": "v"}, Dir: "/workspace/sub", User: "1000:1000", CPU: 1.5, Memory: 1 << 20,
		Pids: 7, Timeout: time.Minute, NetworkNone: true, PreferNode: "n1",
		Workspace: []cache.LayerBlob{{Digest: h, DiffID: h, Size: 9, MediaType: "application/vnd.oci.image.layer.v1.tar+zstd"}},
		Services: []executor.PodService{{Name: "db", Aliases: []string{"pg"}, Image: "r.example/db@sha256:" + h.Hex, Args: []string{"/bin/sh", "-c", "serve"},
			Env: []string{"B=2"}, Ready: []string{"/bin/sh", "-c", "check"}, ReadyInterval: time.Second, ReadyTimeout: 2 * time.Second, ReadyRetries: 3, Port: 5432}}}
	ks := k.kubeStep(ps)
	if ks.Repo != "10.244.0.1:5000/team/cache" || ks.Insecure || ks.Name != "build" || ks.ID != ps.ID || ks.Image != ps.Image ||
		ks.Dir != ps.Dir || ks.User != ps.User || ks.CPU != 1.5 || ks.Memory != 1<<20 || ks.Pids != 7 || ks.Timeout != time.Minute ||
		!ks.NetworkNone || ks.PreferNode != "n1" || ks.Secrets["T"] != "v" || len(ks.Env) != 1 || len(ks.Args) != 4 {
		t.Errorf("step: %+v", ks)
	}
	if len(ks.Workspace) != 1 || ks.Workspace[0] != (kube.Layer{Digest: h.String(), DiffID: h.String(), Size: 9, MediaType: "application/vnd.oci.image.layer.v1.tar+zstd"}) {
		t.Errorf("workspace: %+v", ks.Workspace)
	}
	sv := ks.Services[0]
	if sv.Name != "db" || sv.Aliases[0] != "pg" || strings.Join(sv.Entrypoint, " ") != "/bin/sh -c serve" || len(sv.Args) != 0 ||
		sv.Ready[2] != "check" || sv.ReadyInterval != time.Second || sv.ReadyTimeout != 2*time.Second || sv.ReadyRetries != 3 || sv.Port != 5432 {
		t.Errorf("service: %+v", sv)
	}
}

func TestKubeResultToPodResult(t *testing.T) {
	d := "sha256:" + strings.Repeat("b", 64)
	got, err := podResult(&kube.Result{ExitCode: 3, OOMKilled: true, Node: "n", Notes: []string{"x"},
		Diff: &kube.Layer{Digest: d, DiffID: d, Size: 5, MediaType: "application/vnd.oci.image.layer.v1.tar+zstd"}})
	if err != nil || got.ExitCode != 3 || !got.OOMKilled || got.Node != "n" || got.Notes[0] != "x" || got.Diff.Digest.String() != d || got.Diff.Size != 5 {
		t.Errorf("%+v %v", got, err)
	}
	if _, err := podResult(&kube.Result{Diff: &kube.Layer{Digest: "sha256:../x", DiffID: d}}); err == nil {
		t.Errorf("a diff with a bad digest was taken")
	}
}

// An image from a registry is pulled from it by digest; one only this
// machine has is pushed (not tried here: it needs a registry).
func TestKubeImageByDigest(t *testing.T) {
	k := testKubeRuntime(t)
	h := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("c", 64)}
	ref, err := k.Image(context.Background(), &cache.Image{Ref: "registry.example/team/go:1.26", Digest: h})
	if err != nil || ref != "registry.example/team/go@"+h.String() {
		t.Errorf("%q %v", ref, err)
	}
}

func TestKubeEventLines(t *testing.T) {
	for _, c := range []struct {
		e    kube.Event
		want string
	}{
		{kube.Event{Type: kube.EventPhase, Pod: "p", Reason: "Running"}, "pod p: Running"},
		{kube.Event{Type: kube.EventPhase, Pod: "p", Reason: "Succeeded"}, ""},
		{kube.Event{Type: kube.EventWarning, Pod: "p", Reason: "BackOff", Message: "pulling"}, "kubernetes: BackOff: pulling"},
		{kube.Event{Type: kube.EventWarning, Reason: "Warning", Message: "deprecated"}, "kubernetes: Warning: deprecated"},
	} {
		if got := eventLine(c.e); got != c.want {
			t.Errorf("%+v: %q, want %q", c.e, got, c.want)
		}
	}
}

// A warning the kubelet repeats reaches the step's log once.
func TestKubeEventsOncePerAttempt(t *testing.T) {
	k := testKubeRuntime(t)
	var lines []string
	k.listen("build", func(l string) { lines = append(lines, l) })
	for i := 0; i < 3; i++ {
		k.event(kube.Event{Step: "build", Type: kube.EventWarning, Pod: "p", Reason: "MissingClusterDNS", Message: "no DNS"})
	}
	k.event(kube.Event{Step: "build", Type: kube.EventPhase, Pod: "p", Reason: "Running"})
	k.event(kube.Event{Step: "other", Type: kube.EventPhase, Pod: "q", Reason: "Running"})
	k.listen("build", nil)
	k.event(kube.Event{Step: "build", Type: kube.EventPhase, Pod: "p", Reason: "Pending"})
	if strings.Join(lines, "|") != "kubernetes: MissingClusterDNS: no DNS|pod p: Running" {
		t.Errorf("lines %q", lines)
	}
}
