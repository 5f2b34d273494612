package cache

import (
	"archive/tar"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/pipe-run/pipe/internal/testimage"
)

func TestPullThenWarmPullMakesNoRequest(t *testing.T) {
	reg := newRegistry(t)
	extra := filesLayer(t, testimage.File{Path: "hello.txt", Body: "hello\n"})
	img := busybox(t, extra)
	ref := reg.push(t, "team/box:1", img)
	s := newStore(t)

	got, err := s.Pull(ctxT(t), ref, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != mustDigest(t, img) {
		t.Errorf("digest %s, want %s", got.Digest, mustDigest(t, img))
	}
	if len(got.Layers) != 2 || readFile(t, filepath.Join(got.Layers[1], "hello.txt")) != "hello\n" {
		t.Fatalf("layers %v: want busybox then hello.txt", got.Layers)
	}
	if _, err := filepath.EvalSymlinks(filepath.Join(got.Layers[0], "bin", "busybox")); err != nil {
		t.Errorf("bottom layer lacks bin/busybox: %v", err)
	}
	if got.Ref != ref || len(got.Config.Config.Env) == 0 {
		t.Errorf("ref %q env %v", got.Ref, got.Config.Config.Env)
	}

	// Cached: by tag, by digest, and from a fresh Store on the same root.
	reg.reset()
	for _, r := range []string{ref, reg.Host + "/team/box@" + got.Digest.String()} {
		for _, st := range []*Store{s, openStore(t, s.Root())} {
			again, err := st.Pull(ctxT(t), r, PullOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if again.Digest != got.Digest || len(again.Layers) != 2 {
				t.Errorf("warm pull of %s: %+v", r, again)
			}
		}
	}
	if n, _ := reg.counts(); n != 0 {
		t.Errorf("warm pulls made %d HTTP requests, want 0", n)
	}

	// always: asks the registry for the manifest, fetches no layer again.
	if _, err := s.Pull(ctxT(t), ref, PullOptions{Policy: PullAlways}); err != nil {
		t.Fatal(err)
	}
	n, blobs := reg.counts()
	if n == 0 || len(blobs) != 0 {
		t.Errorf("always with everything stored: %d requests, blob GETs %v; want >0 and none", n, blobs)
	}
	if len(tmpEntries(t, s)) != 0 {
		t.Errorf("tmp/ not empty: %v", tmpEntries(t, s))
	}
}

func TestPullNeverUncached(t *testing.T) {
	s := newStore(t)
	_, err := s.Pull(ctxT(t), "localhost:1/nothing:here", PullOptions{Policy: PullNever})
	if !errors.Is(err, ErrNotCached) || !strings.Contains(err.Error(), "pipe image pull") {
		t.Fatalf("err = %v; want ErrNotCached telling to run pipe image pull", err)
	}
}

// A pipe.local image exists only in a store: whatever the policy, a missing
// one is ErrNotCached at once (no name lookup, no request), and a stored one is
// used as it is, also with PullAlways.
func TestPullLocalRegistryNeverLeavesTheStore(t *testing.T) {
	s := newStore(t)
	for _, p := range []PullPolicy{PullMissing, PullAlways, PullNever} {
		_, err := s.Pull(ctxT(t), LocalRegistry+"/busybox:latest", PullOptions{Policy: p})
		if !errors.Is(err, ErrNotCached) {
			t.Errorf("policy %s: err = %v; want ErrNotCached", p, err)
		}
	}
	dockerTar := filepath.Join(t.TempDir(), "box.tar")
	tag, _ := name.NewTag(LocalRegistry + "/box:1")
	if err := tarball.WriteToFile(dockerTar, tag, busybox(t)); err != nil {
		t.Fatal(err)
	}
	stored, err := s.Import(ctxT(t), dockerTar, "")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Pull(ctxT(t), LocalRegistry+"/box:1", PullOptions{Policy: PullAlways})
	if err != nil || got.Digest != stored.Digest {
		t.Errorf("stored pipe.local image with PullAlways: %v, %v", got, err)
	}
}

func TestParsePullPolicy(t *testing.T) {
	for in, want := range map[string]PullPolicy{"": PullMissing, "missing": PullMissing, "always": PullAlways, "never": PullNever} {
		if got, err := ParsePullPolicy(in); err != nil || got != want {
			t.Errorf("ParsePullPolicy(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParsePullPolicy("sometimes"); err == nil {
		t.Error("sometimes: no error")
	}
}

func TestPullIndexResolvesHostPlatform(t *testing.T) {
	reg := newRegistry(t)
	host := hostPlatform()
	others := map[string]v1.Image{"s390x": smallImage(t, "s390x", "s390x"), "riscv64": smallImage(t, "riscv64", "riscv64")}
	mine := smallImage(t, host.Architecture, "mine")
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	adds := []mutate.IndexAddendum{{Add: others["s390x"], Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "s390x"}}}}
	adds = append(adds, mutate.IndexAddendum{Add: mine, Descriptor: v1.Descriptor{Platform: &host}})
	adds = append(adds, mutate.IndexAddendum{Add: others["riscv64"], Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "riscv64"}}})
	idx = mutate.AppendManifests(idx, adds...)
	ref := reg.pushIndex(t, "multi:1", idx)
	s := newStore(t)

	img, err := s.Pull(ctxT(t), ref, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img.Digest != mustDigest(t, mine) {
		t.Fatalf("digest %s, want the host's %s", img.Digest, mustDigest(t, mine))
	}
	if got := readFile(t, filepath.Join(img.Layers[0], "arch.txt")); got != "mine" {
		t.Errorf("arch.txt = %q", got)
	}
	_, blobs := reg.counts()
	for arch, o := range others {
		ls, _ := o.Layers()
		if n := blobs[mustDigest(t, ls[0]).String()]; n != 0 {
			t.Errorf("the %s layer was fetched %d times", arch, n)
		}
	}
	// By the index digest, offline.
	reg.reset()
	byDigest := reg.Host + "/multi@" + mustDigest(t, idx).String()
	again, err := s.Pull(ctxT(t), byDigest, PullOptions{Policy: PullNever})
	if err != nil || again.Digest != img.Digest {
		t.Fatalf("pull by index digest offline: %v %v", again, err)
	}
	// Another platform, asked for explicitly.
	if _, err := s.Pull(ctxT(t), ref, PullOptions{Platform: &v1.Platform{OS: "linux", Architecture: "mips"}}); err == nil || !strings.Contains(err.Error(), "no image for platform linux/mips") {
		t.Errorf("mips: err = %v", err)
	}
}

func TestPullZstdLayer(t *testing.T) {
	reg := newRegistry(t)
	b, err := testimage.FilesTar(testimage.File{Path: "z.txt", Body: strings.Repeat("zstd ", 1000)})
	if err != nil {
		t.Fatal(err)
	}
	l, err := tarball.LayerFromReader(strings.NewReader(string(b)), tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd))
	if err != nil {
		t.Fatal(err)
	}
	if mt, _ := l.MediaType(); mt != types.OCILayerZStd {
		t.Fatalf("media type %s", mt)
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{Layer: l, MediaType: types.OCILayerZStd})
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.push(t, "zstd:1", img)
	s := newStore(t)
	got, err := s.Pull(ctxT(t), ref, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if body := readFile(t, filepath.Join(got.Layers[0], "z.txt")); body != strings.Repeat("zstd ", 1000) {
		t.Errorf("z.txt has %d bytes", len(body))
	}
}

// faultyLayer pushes busybox + one extra layer and returns the ref and the
// extra layer's digest, with the registry's counters reset.
func faultyLayer(t *testing.T, reg *testRegistry) (string, v1.Layer) {
	extra := filesLayer(t, testimage.File{Path: "big.txt", Body: strings.Repeat("some data ", 5000)})
	ref := reg.push(t, "faulty:1", busybox(t, extra))
	reg.reset()
	return ref, extra
}

// serveBroken answers a blob GET with a broken copy of the real response.
func serveBroken(w http.ResponseWriter, r *http.Request, h http.Handler, truncate bool) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if truncate {
		w.Write(body[:len(body)/2])
		return
	}
	bad := append([]byte(nil), body...)
	bad[len(bad)-10] ^= 0xff
	w.Write(bad)
}

func TestPullRecoversFromBrokenDownloads(t *testing.T) {
	for _, tc := range []struct {
		name     string
		truncate bool
	}{{"truncated", true}, {"wrong digest", false}} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newRegistry(t)
			ref, extra := faultyLayer(t, reg)
			d := mustDigest(t, extra).String()
			reg.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
				if blobDigest(r) != d || n != 1 {
					return false
				}
				reg.setIntercept(nil)
				serveBroken(w, r, registryHandler(reg), tc.truncate)
				return true
			})
			var warn warnings
			s := newStore(t)
			img, err := s.Pull(ctxT(t), ref, PullOptions{Warn: warn.add})
			if err != nil {
				t.Fatal(err)
			}
			if readFile(t, filepath.Join(img.Layers[1], "big.txt")) != strings.Repeat("some data ", 5000) {
				t.Error("big.txt differs")
			}
			if !strings.Contains(warn.String(), "fetching it again") {
				t.Errorf("warnings = %q, want one about fetching again", warn.String())
			}
		})
	}
}

func TestPullGivesUpOnABlobThatNeverMatches(t *testing.T) {
	reg := newRegistry(t)
	ref, extra := faultyLayer(t, reg)
	d := mustDigest(t, extra).String()
	reg.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if blobDigest(r) != d {
			return false
		}
		serveBroken(w, r, registryHandler(reg), false)
		return true
	})
	s := newStore(t)
	_, err := s.Pull(ctxT(t), ref, PullOptions{Warn: func(string) {}})
	var de *DigestError
	if !errors.As(err, &de) {
		t.Fatalf("err = %v, want a DigestError", err)
	}
	if s.hasLayer(mustDiffID(t, extra)) {
		t.Error("the corrupt layer was kept")
	}
	if _, blobs := reg.counts(); blobs[d] != maxLayerAttempts {
		t.Errorf("fetched %d times, want %d", blobs[d], maxLayerAttempts)
	}
	if len(tmpEntries(t, s)) != 0 {
		t.Errorf("tmp/ not empty: %v", tmpEntries(t, s))
	}
}

func TestPullRetriesServerErrors(t *testing.T) {
	reg := newRegistry(t)
	ref, extra := faultyLayer(t, reg)
	d := mustDigest(t, extra).String()
	fails := map[bool]int{}
	var mu sync.Mutex
	reg.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		mu.Lock()
		defer mu.Unlock()
		manifest := strings.Contains(r.URL.Path, "/manifests/")
		if (manifest || blobDigest(r) == d) && fails[manifest] < 2 {
			fails[manifest]++
			http.Error(w, "try later", http.StatusInternalServerError)
			return true
		}
		return false
	})
	s := newStore(t)
	if _, err := s.Pull(ctxT(t), ref, PullOptions{}); err != nil {
		t.Fatalf("pull after 500s: %v", err)
	}
	if fails[true] != 2 || fails[false] != 2 {
		t.Errorf("served %v errors", fails)
	}
}

func TestPullRejectsLyingDiffID(t *testing.T) {
	reg := newRegistry(t)
	extra := filesLayer(t, testimage.File{Path: "a.txt", Body: "a"})
	img := busybox(t, extra)
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.RootFS.DiffIDs[1] = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
	img, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.push(t, "liar:1", img)
	reg.reset()
	s := newStore(t)
	_, err = s.Pull(ctxT(t), ref, PullOptions{})
	var de *DigestError
	if !errors.As(err, &de) || de.What != "layer diffID" {
		t.Fatalf("err = %v, want a diffID DigestError", err)
	}
	if _, blobs := reg.counts(); blobs[mustDigest(t, extra).String()] != 1 {
		t.Errorf("a consistent but lying layer was fetched %d times, want once", blobs[mustDigest(t, extra).String()])
	}
	if s.hasLayer(cf.RootFS.DiffIDs[1]) || s.hasLayer(mustDiffID(t, extra)) {
		t.Error("the layer was kept")
	}
}

func TestPullRefusesEscapingLayer(t *testing.T) {
	reg := newRegistry(t)
	evil := tarOf(t, &tar.Header{Typeflag: tar.TypeReg, Name: "../../evil", Size: 3, Mode: 0o644})
	l, err := testimage.LayerFromTar(evil)
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.push(t, "evil:1", busybox(t, l))
	s := newStore(t)
	_, err = s.Pull(ctxT(t), ref, PullOptions{})
	var le *LayerError
	if !errors.As(err, &le) {
		t.Fatalf("err = %v, want a LayerError", err)
	}
	if s.hasLayer(mustDiffID(t, l)) {
		t.Error("the evil layer was kept")
	}
}

func TestPullRefetchesACorruptStoredConfig(t *testing.T) {
	reg := newRegistry(t)
	img := busybox(t)
	ref := reg.push(t, "cfg:1", img)
	s := newStore(t)
	if _, err := s.Pull(ctxT(t), ref, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg, _ := img.ConfigName()
	if err := os.WriteFile(s.blobPath(cfg), []byte(`{"corrupt":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var warn warnings
	var progress strings.Builder
	got, err := s.Pull(ctxT(t), ref, PullOptions{Warn: warn.add, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	if got.Config.Config.Cmd[0] != "sh" || !strings.Contains(warn.String(), "fetching it again") {
		t.Errorf("config %+v, warnings %q", got.Config.Config, warn.String())
	}
	if !strings.Contains(progress.String(), "1/1 layers") {
		t.Errorf("progress %q", progress.String())
	}
}
