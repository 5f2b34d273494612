package kube

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/podagent"
	"github.com/pipe-run/pipe/internal/testcluster"
	"github.com/pipe-run/pipe/internal/testimage"
)

// The whole pod contract on the real cluster: pipe's own static binary
// built here, its agent image pushed to the cluster's registry, a
// workspace layer fetched and applied by pipe-init, the step run by the
// wrapper, its diff pushed by pipe-push and read back from the registry.

// agentBuild is pipe's binary, built once per test process.
var agentBuild struct {
	once sync.Once
	dir  string
	exe  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if agentBuild.dir != "" {
		os.RemoveAll(agentBuild.dir)
	}
	os.Exit(code)
}

// pipeBinary builds github.com/pipe-run/pipe/cmd/pipe static, as the
// release does (CGO_ENABLED=0).
func pipeBinary(t *testing.T) string {
	t.Helper()
	agentBuild.once.Do(func() {
		agentBuild.dir, agentBuild.err = os.MkdirTemp("", "pipe-kube-agent-")
		if agentBuild.err != nil {
			return
		}
		agentBuild.exe = filepath.Join(agentBuild.dir, "pipe")
		cmd := exec.Command("go", "build", "-trimpath", "-o", agentBuild.exe, "github.com/pipe-run/pipe/cmd/pipe")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
		if out, err := cmd.CombinedOutput(); err != nil {
			agentBuild.err = errors.New("go build ./cmd/pipe: " + err.Error() + "\n" + string(out))
		}
	})
	if agentBuild.err != nil {
		t.Fatal(agentBuild.err)
	}
	return agentBuild.exe
}

// contractRun is a clusterRun with the agent, and the cache repository
// the agent image, the workspace and the diffs live in.
type contractRun struct {
	*clusterRun
	repo name.Repository
}

func newContractRun(t *testing.T) *contractRun {
	t.Helper()
	c := testcluster.Get(t)
	exe := pipeBinary(t)
	repo, err := name.NewRepository(c.Repo(t, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := podagent.Image(exe)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := podagent.ImageTag(exe)
	if err != nil {
		t.Fatal(err)
	}
	ref := repo.Tag(tag)
	if err := remote.Write(ref, img, remote.WithAuth(c.Auth()), remote.WithTransport(c.Transport())); err != nil {
		t.Fatalf("push the agent image: %v", err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return &contractRun{clusterRun: newClusterRun(t, repo.Digest(d.String()).String()), repo: repo}
}

// pushLayer pushes the files as a layer blob into the cache repository.
func (r *contractRun) pushLayer(files ...testimage.File) Layer {
	r.t.Helper()
	b, err := testimage.FilesTar(files...)
	if err != nil {
		r.t.Fatal(err)
	}
	l, err := testimage.LayerFromTar(b)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := remote.WriteLayer(r.repo, l, remote.WithAuth(r.c.Auth()), remote.WithTransport(r.c.Transport())); err != nil {
		r.t.Fatalf("push a workspace layer: %v", err)
	}
	return descriptor(r.t, l)
}

func descriptor(t *testing.T, l v1.Layer) Layer {
	t.Helper()
	d, err1 := l.Digest()
	id, err2 := l.DiffID()
	size, err3 := l.Size()
	mt, err4 := l.MediaType()
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		t.Fatal(err)
	}
	return Layer{Digest: d.String(), DiffID: id.String(), Size: size, MediaType: string(mt)}
}

// fetchDiff reads the diff blob back from the registry, checks its digest,
// size and diffID, and returns its tar entries (name -> body).
func (r *contractRun) fetchDiff(l *Layer) map[string]string {
	r.t.Helper()
	blob, err := remote.Layer(r.repo.Digest(l.Digest), remote.WithAuth(r.c.Auth()), remote.WithTransport(r.c.Transport()))
	if err != nil {
		r.t.Fatal(err)
	}
	rc, err := blob.Compressed()
	if err != nil {
		r.t.Fatalf("fetch the diff %s: %v", l.Digest, err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(rc)
	if err != nil {
		r.t.Fatal(err)
	}
	if sum := sha256.Sum256(raw); "sha256:"+hex.EncodeToString(sum[:]) != l.Digest || int64(len(raw)) != l.Size {
		r.t.Fatalf("the diff blob does not match its descriptor %+v", l)
	}
	tr, err := cache.DecompressLayer(strings.NewReader(string(raw)))
	if err != nil {
		r.t.Fatal(err)
	}
	defer tr.Close()
	h := sha256.New()
	entries := map[string]string{}
	rd := tar.NewReader(io.TeeReader(tr, h))
	for {
		hdr, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			r.t.Fatal(err)
		}
		body, _ := io.ReadAll(rd)
		entries[strings.TrimPrefix(hdr.Name, "./")] = string(body)
	}
	_, _ = io.Copy(io.Discard, tr)
	if id := "sha256:" + hex.EncodeToString(h.Sum(nil)); id != l.DiffID {
		r.t.Errorf("diffID %s, the tar hashes to %s", l.DiffID, id)
	}
	return entries
}

func TestKubeContractWorkspaceInDiffOut(t *testing.T) {
	r := newContractRun(t)
	base := r.pushLayer(
		testimage.File{Path: "hello.txt", Body: "hello from the snapshot\n"},
		testimage.File{Path: "gone.txt", Body: "to be removed\n"},
	)
	deps := r.pushLayer(testimage.File{Path: "dep.txt", Body: "from a dependency\n"})
	s := r.step("contract", `cat hello.txt dep.txt; echo "$TOKEN" | wc -c; echo made > new.txt; rm gone.txt; exit 4`)
	s.Dir, s.Repo, s.Workspace = "/workspace", r.repo.String(), []Layer{base, deps}
	s.Secrets = map[string]string{"TOKEN": "abc"}
	var out syncBuffer
	s.Stdout = &out
	res, err := r.run(s)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 4 || res.Diff == nil {
		t.Fatalf("result %+v (log %q)", res, out.String())
	}
	if got := out.String(); got != "hello from the snapshot\nfrom a dependency\n4\n" {
		t.Errorf("log %q", got)
	}
	entries := r.fetchDiff(res.Diff)
	if entries["new.txt"] != "made\n" {
		t.Errorf("the diff lacks new.txt: %v", keys(entries))
	}
	if _, ok := entries[".wh.gone.txt"]; !ok {
		t.Errorf("the diff lacks the whiteout of gone.txt: %v", keys(entries))
	}
	for _, unchanged := range []string{"hello.txt", "dep.txt"} {
		if _, ok := entries[unchanged]; ok {
			t.Errorf("the diff holds the unchanged %s", unchanged)
		}
	}
}

func TestKubeContractUnchangedAndNonRoot(t *testing.T) {
	r := newContractRun(t)
	base := r.pushLayer(testimage.File{Path: "a.txt", Body: "a\n"})
	s := r.step("nochange", `cat a.txt`)
	s.Dir, s.Repo, s.Workspace = "/workspace", r.repo.String(), []Layer{base}
	res, err := r.run(s)
	if err != nil || res.ExitCode != 0 || res.Diff != nil {
		t.Fatalf("unchanged workspace: %+v %v", res, err)
	}
	s = r.step("asuser", `id -u > mine.txt`)
	s.Dir, s.Repo, s.Workspace, s.User = "/workspace", r.repo.String(), []Layer{base}, "1000:1000"
	res, err = r.run(s)
	if err != nil || res.ExitCode != 0 || res.Diff == nil {
		t.Fatalf("as uid 1000: %+v %v", res, err)
	}
	if got := r.fetchDiff(res.Diff)["mine.txt"]; got != "1000\n" {
		t.Errorf("mine.txt = %q", got)
	}
}

// pipe-init refuses a workspace layer whose descriptor lies: the step never
// runs and the error says why.
func TestKubeContractInitFailureSaysWhy(t *testing.T) {
	r := newContractRun(t)
	l := r.pushLayer(testimage.File{Path: "a.txt", Body: "a\n"})
	l.DiffID = "sha256:" + strings.Repeat("0", 64)
	s := r.step("lying", `echo must not run`)
	s.Dir, s.Repo, s.Workspace = "/workspace", r.repo.String(), []Layer{l}
	_, err := r.run(s)
	var pe *PodError
	if !errors.As(err, &pe) || !strings.Contains(pe.Reason, ContainerInit+" failed") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(pe.Message+pe.Detail, "sha256:") {
		t.Errorf("the error does not name the layer: %v", err)
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// A step without network, with a service, through the whole contract: the
// agents reach the registry by the address the coordinator resolved, the
// step reaches its service by name, and the pod has no DNS to fall back on.
func TestKubeContractNetworkNoneWithService(t *testing.T) {
	r := newContractRun(t)
	base := r.pushLayer(testimage.File{Path: "index.html", Body: "served\n"})
	s := r.step("fenced", `cat /etc/resolv.conf | grep nameserver; wget -q -O- http://web:8080/ > got.txt; cat got.txt`)
	s.Dir, s.Repo, s.Workspace, s.NetworkNone = "/workspace", r.repo.String(), []Layer{base}, true
	s.Services = []Service{{Name: "web", Image: r.busybox(), Entrypoint: []string{"httpd", "-f", "-p", "8080", "-h", "/workspace"}, Port: 8080}}
	var out syncBuffer
	s.Stdout = &out
	res, err := r.run(s)
	if err != nil || res.ExitCode != 0 || res.Diff == nil {
		t.Fatalf("%+v %v (log %q)", res, err, out.String())
	}
	if got := out.String(); got != "nameserver 127.0.0.1\nserved\n" {
		t.Errorf("log %q", got)
	}
	if got := r.fetchDiff(res.Diff)["got.txt"]; got != "served\n" {
		t.Errorf("got.txt = %q", got)
	}
}

// The step's script can write the wrapper's state in /.pipe and its own
// termination log, but what it forges there never becomes the Result's
// diff: that comes from pipe-push's termination message only.
func TestKubeContractForgedReportIsNotAdopted(t *testing.T) {
	r := newContractRun(t)
	base := r.pushLayer(testimage.File{Path: "a.txt", Body: "a\n"})
	forged := `{"digest":"` + base.Digest + `","diffID":"` + base.DiffID + `","size":` + fmt.Sprint(base.Size) + `,"mediaType":"` + base.MediaType + `"}`
	s := r.step("forger", `echo real > real.txt; printf '%s' '`+forged+`' > /.pipe/pushed.json; printf '{"exit":0,"diff":%s}' '`+forged+`' > /dev/termination-log`)
	s.Dir, s.Repo, s.Workspace = "/workspace", r.repo.String(), []Layer{base}
	res, err := r.run(s)
	if res != nil && res.Diff != nil && res.Diff.Digest == base.Digest {
		t.Fatalf("the forged report was adopted: %+v", res.Diff)
	}
	if err != nil {
		var pe *PodError
		if !errors.As(err, &pe) {
			t.Fatalf("err = %v", err)
		}
		t.Logf("the forgery made the attempt fail (fine): %v", pe.Reason)
		return
	}
	if res.Diff == nil || r.fetchDiff(res.Diff)["real.txt"] != "real\n" {
		t.Errorf("the diff is not the step's real one: %+v", res.Diff)
	}
}

// The step's container holds none of the agents' means: no registry
// credentials, no service account token, no agent spec.
func TestKubeContractStepSeesNoCredentials(t *testing.T) {
	r := newContractRun(t)
	base := r.pushLayer(testimage.File{Path: "a.txt", Body: "a\n"})
	s := r.step("nosy", `for p in /.pipe-registry /var/run/secrets/kubernetes.io/serviceaccount; do [ ! -e $p ] || { echo "$p is there"; exit 1; }; done
env | grep -E '^(PIPE_AGENT_SPEC|DOCKER_CONFIG|SSL_CERT_FILE)=' && exit 2
tr '\0' '\n' < /proc/1/environ | grep -qE '^(PIPE_AGENT_SPEC|DOCKER_CONFIG)=' && exit 3
echo clean`)
	s.Dir, s.Repo, s.Workspace = "/workspace", r.repo.String(), []Layer{base}
	var out syncBuffer
	s.Stdout = &out
	res, err := r.run(s)
	if err != nil || res.ExitCode != 0 || out.String() != "clean\n" {
		t.Fatalf("%+v %v: %q", res, err, out.String())
	}
}
