package podagent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pipe-run/pipe/internal/testregistry"
)

// baseLayers pushes the two workspace layers of the tests: a snapshot
// (gzip) and an output layer (zstd) that removes and replaces some of it.
func baseLayers(t *testing.T, r *testRepo) (tars [][]byte, layers []Layer) {
	snap := layerTar(t, dir("src/"), file("src/main.go", "package main\n"), file("old", "old"),
		dir("gone/"), file("gone/x", "x"), symlink("link", "src/main.go"))
	out := layerTar(t, file(".wh.gone", ""), dir("bin/"), file("bin/app", "app"), file("old", "rewritten"))
	return [][]byte{snap, out}, []Layer{r.push(t, snap, false), r.push(t, out, true)}
}

func TestInitThenPush(t *testing.T) {
	r := startRepo(t)
	tars, layers := baseLayers(t, r)
	a := testAgent(t)
	if err := a.Init(context.Background(), r.spec(layers...)); err != nil {
		t.Fatal(err)
	}
	want := applyAll(t, tars...)
	if diff := cmp.Diff(describeTree(t, want), describeTree(t, a.Paths.Workspace)); diff != "" {
		t.Fatalf("workspace after init -want +got:\n%s", diff)
	}
	if fi, err := os.Stat(a.Paths.Binary()); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("agent binary: %v %v", fi, err)
	}

	// The step: changes, then done.
	ws := a.Paths.Workspace
	os.WriteFile(filepath.Join(ws, "src/new.go"), []byte("package main // new\n"), 0o644)
	os.Remove(filepath.Join(ws, "old"))
	os.RemoveAll(filepath.Join(ws, "bin"))
	writeJSONAtomic(a.Paths.Done(), Done{Exit: 0})

	p := pushAndStop(t, a, r.spec(layers...))
	if p.Error != "" || p.Unchanged || p.MediaType != "application/vnd.oci.image.layer.v1.tar+zstd" {
		t.Fatalf("pushed.json: %+v", p)
	}
	got := applyAll(t, append(tars, r.fetchTar(t, p.Layer))...)
	if diff := cmp.Diff(describeTree(t, ws), describeTree(t, got)); diff != "" {
		t.Errorf("layers + pushed diff -after the step +got:\n%s", diff)
	}
}

// pushAndStop runs Push until it has reported, stops it and returns the report.
func pushAndStop(t *testing.T, a *Agent, sp Spec) Pushed {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- a.Push(ctx, sp) }()
	wctx, wcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer wcancel()
	var p Pushed
	if err := waitJSON(wctx, a.Paths.Pushed(), &p); err != nil {
		t.Fatalf("no pushed.json: %v", err)
	}
	select {
	case err := <-res:
		t.Fatalf("Push returned before it was stopped: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-res; err != nil {
		t.Errorf("Push: %v", err)
	}
	var term Pushed
	if b, err := os.ReadFile(a.Paths.TerminationLog); err != nil || json.Unmarshal(b, &term) != nil || !reflect.DeepEqual(term, p) {
		t.Errorf("push's termination message %s (%v), want %+v", b, err, p)
	}
	return p
}

func TestPushUnchangedAndRestarted(t *testing.T) {
	r := startRepo(t)
	_, layers := baseLayers(t, r)
	a := testAgent(t)
	if err := a.Init(context.Background(), r.spec(layers...)); err != nil {
		t.Fatal(err)
	}
	writeJSONAtomic(a.Paths.Done(), Done{Exit: 1})
	if p := pushAndStop(t, a, r.spec(layers...)); !p.Unchanged || p.Digest != "" || p.Error != "" {
		t.Errorf("untouched workspace: %+v", p)
	}
	if b, _ := os.ReadFile(a.Paths.Pushed()); string(b) != `{"unchanged":true}` {
		t.Errorf("pushed.json %s", b)
	}
	// A restarted sidecar does not push again.
	os.WriteFile(filepath.Join(a.Paths.Workspace, "late"), []byte("x"), 0o644)
	if p := pushAndStop(t, a, r.spec(layers...)); !p.Unchanged {
		t.Errorf("restarted push: %+v", p)
	}
}

func TestPushReportsFailure(t *testing.T) {
	r := startRepo(t)
	a := testAgent(t)
	if err := a.Init(context.Background(), r.spec()); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(a.Paths.Workspace, "out"), []byte("x"), 0o644)
	writeJSONAtomic(a.Paths.Done(), Done{Exit: 0})
	r.reg.SetFault(func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method == http.MethodGet {
			return false
		}
		http.Error(w, "disk full", http.StatusInsufficientStorage)
		return true
	})
	p := pushAndStop(t, a, r.spec())
	if !strings.Contains(p.Error, "push the diff") || p.Digest != "" {
		t.Errorf("pushed.json after a refused push: %+v", p)
	}
	if m, _ := filepath.Glob(filepath.Join(a.Paths.State, ".layer-*")); len(m) != 0 {
		t.Errorf("the diff's blob was left behind: %v", m)
	}
}

func TestPushWithoutInit(t *testing.T) {
	a := testAgent(t)
	writeJSONAtomic(a.Paths.Done(), Done{Exit: 0})
	p := pushAndStop(t, a, Spec{Repo: "127.0.0.1:1/none"})
	if !strings.Contains(p.Error, "did pod-agent init run?") {
		t.Errorf("pushed.json: %+v", p)
	}
}

func TestPushStoppedBeforeTheStepEnds(t *testing.T) {
	a := testAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := a.Push(ctx, Spec{Repo: "127.0.0.1:1/none"}); err != nil {
		t.Errorf("Push stopped while waiting: %v", err)
	}
	if _, err := os.Stat(a.Paths.Pushed()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pushed.json written by a push that never ran: %v", err)
	}
}

func TestInitRefusesTamperedBlob(t *testing.T) {
	r := startRepo(t)
	_, layers := baseLayers(t, r)
	evil := layerTar(t, file("pwned", "the registry's own content"))
	gz, _ := gzipBytes(evil)
	// The registry answers the second layer's digest with other bytes.
	r.reg.SetFault(func(w http.ResponseWriter, req *http.Request) bool {
		if req.Method != http.MethodGet || !strings.HasSuffix(req.URL.Path, "/blobs/"+layers[1].Digest) {
			return false
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(gz)
		return true
	})
	a := testAgent(t)
	err := a.Init(context.Background(), r.spec(layers...))
	if err == nil || !errors.Is(err, ErrDigestMismatch) || !strings.Contains(err.Error(), "workspace layer 2 of 2 ("+layers[1].Digest+")") {
		t.Fatalf("want a digest mismatch naming layer 2, got: %v", err)
	}
	t.Logf("error: %v", err)
	var term map[string]string
	if b, _ := os.ReadFile(a.Paths.TerminationLog); json.Unmarshal(b, &term) != nil || !strings.Contains(term["error"], "digest mismatch") {
		t.Errorf("init's termination message: %s", b)
	}
	if names, _ := os.ReadDir(a.Paths.Workspace); len(names) != 0 {
		t.Errorf("the workspace of a refused init holds %v", names)
	}
	if _, err := os.Stat(a.Paths.Index()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused init wrote the index: %v", err)
	}
}

func TestInitRefusesWrongLayerFacts(t *testing.T) {
	r := startRepo(t)
	_, layers := baseLayers(t, r)
	for _, c := range []struct {
		name string
		edit func(l *Layer)
		want string
	}{
		{"diffID", func(l *Layer) { l.DiffID = testDiffID }, "its diffID is " + testDiffID},
		{"size", func(l *Layer) { l.Size = 10 }, "larger than the layer's size"},
		{"absent", func(l *Layer) { l.Digest = testDigest }, "fetch the blob"},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := layers[0]
			c.edit(&l)
			a := testAgent(t)
			err := a.Init(context.Background(), r.spec(l))
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "workspace layer 1 of 1") {
				t.Fatalf("want an error saying %q, got: %v", c.want, err)
			}
			if names, _ := os.ReadDir(a.Paths.Workspace); len(names) != 0 {
				t.Errorf("the workspace of a refused init holds %v", names)
			}
		})
	}
}

func TestInitRefusals(t *testing.T) {
	r := startRepo(t)
	_, layers := baseLayers(t, r)
	a := testAgent(t)
	os.WriteFile(filepath.Join(a.Paths.Workspace, "stale"), nil, 0o644)
	if err := a.Init(context.Background(), r.spec(layers...)); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Errorf("init onto a used workspace: %v", err)
	}
	b := testAgent(t)
	t.Setenv("DOCKER_CONFIG", r.reg.DockerConfig("agent", "wrong"))
	if err := b.Init(context.Background(), r.spec(layers...)); err == nil || !strings.Contains(err.Error(), "UNAUTHORIZED") {
		t.Errorf("init with a wrong password: %v", err)
	}
	t.Setenv(CAEnv, filepath.Join(t.TempDir(), "missing.pem"))
	if err := b.Init(context.Background(), r.spec(layers...)); err == nil || !strings.Contains(err.Error(), "SSL_CERT_FILE") {
		t.Errorf("init with a missing CA file: %v", err)
	}
}

func TestInitAndPushPlainHTTP(t *testing.T) {
	reg := testregistry.Start(t, testregistry.Options{})
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	t.Setenv(CAEnv, "")
	r := newTestRepo(reg, "plain")
	snap := layerTar(t, file("a", "a"))
	l := r.push(t, snap, true)
	sp := Spec{Repo: r.repo, Layers: []Layer{l}, Insecure: true}
	a := testAgent(t)
	if err := a.Init(context.Background(), sp); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(a.Paths.Workspace, "b"), []byte("b"), 0o644)
	writeJSONAtomic(a.Paths.Done(), Done{})
	if p := pushAndStop(t, a, sp); p.Error != "" || p.Digest == "" {
		t.Errorf("push over plain http: %+v", p)
	}
	sp.Insecure = false
	if err := testAgent(t).Init(context.Background(), sp); err == nil || !strings.Contains(err.Error(), "refusing plain http") {
		t.Errorf("init over plain http without insecure: %v", err)
	}
}
