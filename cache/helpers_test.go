package cache

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pipe-run/pipe/internal/testimage"
)

// needsRoot skips a test unless PIPE_TEST_ROOT=1.
func needsRoot(t *testing.T) {
	t.Helper()
	if os.Getenv("PIPE_TEST_ROOT") != "1" {
		t.Skip("needs root: set PIPE_TEST_ROOT=1")
	}
}

// newStore opens a store in a fresh dir, with fast registry retries.
func newStore(t testing.TB) *Store {
	t.Helper()
	return openStore(t, t.TempDir())
}

func openStore(t testing.TB, root string) *Store {
	t.Helper()
	s, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	s.backoff = &remote.Backoff{Duration: 5 * time.Millisecond, Factor: 2, Steps: 4}
	return s
}

// testRegistry is go-containerregistry's registry on loopback, counting
// requests; intercept may answer a request instead of the registry.
type testRegistry struct {
	*httptest.Server
	Host string

	mu        sync.Mutex
	requests  int
	blobGets  map[string]int // completed GETs of blobs, by digest
	intercept func(w http.ResponseWriter, r *http.Request, n int) bool
	inner     http.Handler
}

func newRegistry(t testing.TB) *testRegistry {
	t.Helper()
	tr := &testRegistry{blobGets: map[string]int{}}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	tr.inner = h
	tr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.requests++
		digest := blobDigest(r)
		n := 0
		if digest != "" {
			tr.blobGets[digest]++
			n = tr.blobGets[digest]
		}
		icpt := tr.intercept
		tr.mu.Unlock()
		if icpt != nil && icpt(w, r, n) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(tr.Close)
	tr.Host = strings.TrimPrefix(tr.URL, "http://")
	return tr
}

// blobDigest is the digest of a GET /v2/<name>/blobs/<digest> request.
func blobDigest(r *http.Request) string {
	if r.Method != http.MethodGet {
		return ""
	}
	i := strings.LastIndex(r.URL.Path, "/blobs/")
	if i < 0 {
		return ""
	}
	return r.URL.Path[i+len("/blobs/"):]
}

func (tr *testRegistry) reset() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.requests = 0
	tr.blobGets = map[string]int{}
	tr.intercept = nil
}

func (tr *testRegistry) setIntercept(f func(w http.ResponseWriter, r *http.Request, n int) bool) {
	tr.mu.Lock()
	tr.intercept = f
	tr.mu.Unlock()
}

func (tr *testRegistry) counts() (requests int, blobs map[string]int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	blobs = map[string]int{}
	for k, v := range tr.blobGets {
		blobs[k] = v
	}
	return tr.requests, blobs
}

// push writes img to repo:tag on the registry and returns its reference.
func (tr *testRegistry) push(t testing.TB, repoTag string, img v1.Image) string {
	t.Helper()
	ref := tr.Host + "/" + repoTag
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return ref
}

func (tr *testRegistry) pushIndex(t testing.TB, repoTag string, idx v1.ImageIndex) string {
	t.Helper()
	ref := tr.Host + "/" + repoTag
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	return ref
}

// filesLayer is a gzip layer of the given files.
func filesLayer(t testing.TB, files ...testimage.File) v1.Layer {
	t.Helper()
	b, err := testimage.FilesTar(files...)
	if err != nil {
		t.Fatal(err)
	}
	l, err := testimage.LayerFromTar(b)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// busybox is the test busybox image with extra layers.
func busybox(t testing.TB, extra ...v1.Layer) v1.Image {
	t.Helper()
	img, err := testimage.Busybox(extra...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// smallImage is a one-layer image with one file, for the given platform.
func smallImage(t testing.TB, arch, body string) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, filesLayer(t, testimage.File{Path: "arch.txt", Body: body}))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func mustDigest(t testing.TB, x interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func mustDiffID(t testing.TB, l v1.Layer) v1.Hash {
	t.Helper()
	h, err := l.DiffID()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tarOf builds a tar stream of raw headers (for crafted layers).
func tarOf(t testing.TB, hdrs ...*tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write(bytes.Repeat([]byte("x"), int(h.Size)))
		}
	}
	tw.Close()
	return buf.Bytes()
}

// warnings collects PullOptions.Warn messages.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) add(m string) { w.mu.Lock(); w.msgs = append(w.msgs, m); w.mu.Unlock() }
func (w *warnings) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.msgs, "\n")
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func tmpEntries(t testing.TB, s *Store) []string {
	t.Helper()
	ents, err := os.ReadDir(s.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

var _ = fmt.Sprint

// registryHandler is the registry behind tr, without its interception.
func registryHandler(tr *testRegistry) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.inner.ServeHTTP(w, r)
	})
}
