package podagent

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/internal/testregistry"
)

// ent is one entry of a test layer.
type ent struct {
	name, body, link string
	typ              byte
	mode             int64
}

func file(name, body string) ent { return ent{name: name, body: body, typ: tar.TypeReg, mode: 0o644} }
func dir(name string) ent        { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, to string) ent {
	return ent{name: name, link: to, typ: tar.TypeSymlink, mode: 0o777}
}

// layerTar is an uncompressed layer of the entries.
func layerTar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, Size: int64(len(e.body)),
			ModTime: time.Unix(1700000000, 5000), Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testRepo is a repository of a TLS registry with a user, whose Docker
// config and CA the agents find through DOCKER_CONFIG and SSL_CERT_FILE.
type testRepo struct {
	reg  *testregistry.Registry // nil for the cluster's registry
	repo string
	opts []remote.Option // how the test itself reaches the registry
}

func startRepo(t *testing.T) *testRepo {
	t.Helper()
	reg := testregistry.Start(t, testregistry.Options{TLS: true, Proxy: true, Users: map[string]string{"agent": "agent-pass"}})
	t.Setenv("DOCKER_CONFIG", reg.DockerConfig("agent", "agent-pass"))
	t.Setenv(CAEnv, reg.CAFile)
	return newTestRepo(reg, "team/pipe-cache")
}

// newTestRepo is the repository path of reg, reached with the agents' keychain.
func newTestRepo(reg *testregistry.Registry, path string) *testRepo {
	return &testRepo{reg: reg, repo: reg.Host + "/" + path,
		opts: []remote.Option{remote.WithTransport(reg.Transport()), remote.WithAuthFromKeychain(authn.DefaultKeychain)}}
}

func (r *testRepo) spec(layers ...Layer) Spec { return Spec{Repo: r.repo, Layers: layers} }

// push pushes the layer tar b, gzip or zstd, and describes it.
func (r *testRepo) push(t testing.TB, b []byte, zstd bool) Layer {
	t.Helper()
	var l v1.Layer
	if zstd {
		var remove func() error
		var err error
		l, remove, err = cache.CompressLayer(bytes.NewReader(b), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer remove()
	} else {
		gz, err := gzipBytes(b)
		if err != nil {
			t.Fatal(err)
		}
		l = &gzipLayer{gz: gz, digest: sha256Hash(gz), diffID: sha256Hash(b)}
	}
	repo, err := name.NewRepository(r.repo)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteLayer(repo, l, r.opts...); err != nil {
		t.Fatalf("push a test layer: %v", err)
	}
	d, err := describe(l)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fetchTar reads the blob of l back, uncompressed.
func (r *testRepo) fetchTar(t testing.TB, l Layer) []byte {
	t.Helper()
	ref, err := name.NewDigest(r.repo + "@" + l.Digest)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := remote.Layer(ref, r.opts...)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rl.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr, err := cache.DecompressLayer(rc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		t.Fatal(err)
	}
	if got := sha256Hash(b).String(); got != l.DiffID {
		t.Fatalf("the pushed diff's tar hashes to %s, its diffID says %s", got, l.DiffID)
	}
	return b
}

// applyAll applies the tars in order onto a fresh dir.
func applyAll(t testing.TB, tars ...[]byte) string {
	t.Helper()
	d := t.TempDir()
	for _, b := range tars {
		if err := cache.ApplyLayer(context.Background(), bytes.NewReader(b), d); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// describeTree is one line per path under root: kind and permissions,
// owner, size, mtime, content digest, link target.
func describeTree(t testing.TB, root string) []string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		line := fmt.Sprintf("%s %v %s", rel, fi.Mode(), fi.ModTime().Format(time.RFC3339Nano))
		switch {
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" size=%d sha256=%x", len(b), sha256.Sum256(b))
		case fi.Mode()&fs.ModeSymlink != 0:
			to, _ := os.Readlink(p)
			line += " -> " + to
		}
		lines = append(lines, line+ownerOf(fi))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// testAgent is an agent whose paths are under a fresh temp dir.
func testAgent(t testing.TB) *Agent {
	t.Helper()
	p := PathsUnder(t.TempDir())
	for _, d := range []string{p.Workspace, p.State} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return &Agent{Paths: p, Log: testLog{t}}
}

// testLog sends the agent's lines to the test's log.
type testLog struct{ t testing.TB }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}
