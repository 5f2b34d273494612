//go:build linux

package cache

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"golang.org/x/sys/unix"

	"github.com/pipe-run/pipe/internal/testimage"
)

// layerTree lists a dir in overlay form: paths, types, modes, link targets,
// contents, whiteouts and opaque marks.
func layerTree(t testing.TB, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := rel + " " + fi.Mode().String()
		switch st := fi.Sys().(*syscall.Stat_t); {
		case fi.Mode()&os.ModeCharDevice != 0:
			line += fmt.Sprintf(" dev %d", st.Rdev)
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case fi.Mode().IsRegular():
			line += " " + readFile(t, p)
		case fi.IsDir():
			if v, _ := isOpaque(p); v {
				line += " opaque"
			}
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// upperDir makes a staging dir as a step's overlay upper would be: files, a
// symlink, and (as root) a whiteout and an opaque dir.
func upperDir(t *testing.T, s *Store) string {
	t.Helper()
	dir, err := s.NewStaging("test")
	if err != nil {
		t.Fatal(err)
	}
	for p, body := range map[string]string{"out/app": "binary", "out/sub/x.txt": strings.Repeat("x", 70000), "report.txt": "ok\n"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("app", filepath.Join(dir, "out/link")); err != nil {
		t.Fatal(err)
	}
	if os.Getenv("PIPE_TEST_ROOT") == "1" {
		if err := unix.Mknod(filepath.Join(dir, "gone.txt"), unix.S_IFCHR, 0); err != nil {
			t.Fatal(err)
		}
		os.Mkdir(filepath.Join(dir, "fresh"), 0o755)
		if err := unix.Setxattr(filepath.Join(dir, "fresh"), trustedOpaque, []byte("y"), 0); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestPushLayerDirThenFetchItOnAnotherStore(t *testing.T) {
	reg := newRegistry(t)
	a, b := newStore(t), newStore(t)
	rem := openTestRemote(t, reg.Host+"/team/cache", RemoteOptions{})
	src := upperDir(t, a)
	l, err := a.PushLayerDir(ctxT(t), rem, src)
	if err != nil {
		t.Fatal(err)
	}
	if l.MediaType != "application/vnd.oci.image.layer.v1.tar+zstd" || l.Size <= 0 || checkDigest(l.Digest) != nil || checkDigest(l.DiffID) != nil {
		t.Fatalf("pushed %+v", l)
	}

	// The same dir again: the registry has the blob, nothing is uploaded.
	uploads := 0
	reg.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch {
			uploads++
		}
		return false
	})
	again, err := a.PushLayerDir(ctxT(t), rem, src)
	if err != nil || again != l {
		t.Fatalf("second push: %+v %v, want %+v", again, err, l)
	}
	if uploads != 0 {
		t.Errorf("second push of the same dir uploaded %d times", uploads)
	}
	reg.reset()

	dst, err := b.NewStaging("workspace")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.FetchLayerDir(ctxT(t), rem, l, dst); err != nil {
		t.Fatal(err)
	}
	if got, want := layerTree(t, dst), layerTree(t, src); got != want {
		t.Errorf("fetched layer differs:\n%s\nwant:\n%s", got, want)
	}
}

func TestFetchLayerDirRefusesWhatItWasNotTold(t *testing.T) {
	reg := newRegistry(t)
	a, b := newStore(t), newStore(t)
	rem := openTestRemote(t, reg.Host+"/team/cache", RemoteOptions{})
	l, err := a.PushLayerDir(ctxT(t), rem, upperDir(t, a))
	if err != nil {
		t.Fatal(err)
	}
	other, err := a.PushLayerDir(ctxT(t), rem, commitTestResult(t, a, testKey("o"), map[string]string{"evil": "x"}).Dir)
	if err != nil {
		t.Fatal(err)
	}
	wrongDiff := l
	wrongDiff.DiffID = other.DiffID
	wrongSize := l
	wrongSize.Size--
	missing := l
	missing.Digest = sha256Hash([]byte("not pushed"))
	badType := l
	badType.MediaType = "application/vnd.pipe.result.config.v1+json"
	badDigest := l
	badDigest.Digest.Hex = "../../etc"
	for _, c := range []struct {
		name   string
		l      LayerBlob
		digest bool // a *DigestError
	}{
		{"diffID of another layer", wrongDiff, true},
		{"size one short", wrongSize, false},
		{"digest not in the registry", missing, false},
		{"not a layer media type", badType, false},
		{"digest not hex", badDigest, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dst, err := b.NewStaging("workspace")
			if err != nil {
				t.Fatal(err)
			}
			defer b.RemoveStaging(dst)
			err = b.FetchLayerDir(ctxT(t), rem, c.l, dst)
			var de *DigestError
			if err == nil || (c.digest && !errors.As(err, &de)) {
				t.Fatalf("fetch: %v", err)
			}
		})
	}

	// A registry that serves other bytes under the digest: refused.
	evil := readAll(t, a.LayerTar(commitTestResult(t, a, testKey("e"), map[string]string{"f": "evil"}).Dir))
	reg.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if n == 0 {
			return false
		}
		w.WriteHeader(http.StatusOK)
		w.Write(evil)
		return true
	})
	dst, err := b.NewStaging("workspace")
	if err != nil {
		t.Fatal(err)
	}
	var de *DigestError
	if err := b.FetchLayerDir(ctxT(t), rem, l, dst); !errors.As(err, &de) {
		t.Fatalf("fetch of a tampered blob: %v, want a *DigestError", err)
	}
}

func TestPushImageMakesAStoredImagePullable(t *testing.T) {
	reg := newRegistry(t)
	a, c := newStore(t), newStore(t)
	src := reg.push(t, "origin/busybox:1", busybox(t, filesLayer(t, testimage.File{Path: "etc/motd", Body: "hello"})))
	img, err := a.Pull(ctxT(t), src, PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rem := openTestRemote(t, reg.Host+"/team/cache", RemoteOptions{})
	tag := "img-" + img.Digest.Hex
	ref, err := a.PushImage(ctxT(t), rem, img, tag)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, reg.Host+"/team/cache@sha256:") {
		t.Fatalf("ref %q, want the cache repo by digest", ref)
	}
	got, err := c.Pull(ctxT(t), ref, PullOptions{})
	if err != nil {
		t.Fatalf("pull the pushed image: %v", err)
	}
	if len(got.Layers) != len(img.Layers) {
		t.Fatalf("pushed image has %d layers, want %d", len(got.Layers), len(img.Layers))
	}
	for i := range img.Layers {
		if g, w := layerTree(t, got.Layers[i]), layerTree(t, img.Layers[i]); g != w {
			t.Errorf("layer %d differs:\n%s\nwant:\n%s", i, g, w)
		}
	}
	if fmt.Sprint(got.Config.Config.Env, got.Config.Config.Cmd) != fmt.Sprint(img.Config.Config.Env, img.Config.Config.Cmd) {
		t.Errorf("config: env %v cmd %v, want %v %v", got.Config.Config.Env, got.Config.Config.Cmd, img.Config.Config.Env, img.Config.Config.Cmd)
	}

	// Pushed already (by an earlier run): nothing is packed or uploaded.
	uploads := 0
	reg.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			uploads++
		}
		return false
	})
	again, err := a.PushImage(ctxT(t), rem, img, tag)
	if err != nil || again != ref || uploads != 0 {
		t.Errorf("second push: %q %v after %d uploads, want %q and none", again, err, uploads, ref)
	}
}

func TestImageLocalSaysWhoElseCanPullIt(t *testing.T) {
	reg := newRegistry(t) // on loopback: this machine's only
	s := newStore(t)
	pulled, err := s.Pull(ctxT(t), reg.push(t, "origin/busybox:1", busybox(t)), PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "oci")
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(busybox(t)); err != nil {
		t.Fatal(err)
	}
	imported, err := s.Import(ctxT(t), dir, "registry.example/team/box:1")
	if err != nil {
		t.Fatal(err)
	}
	local, err := s.Import(ctxT(t), dir, LocalRegistry+"/box:1")
	if err != nil {
		t.Fatal(err)
	}
	if !pulled.Local || !imported.Local || !local.Local {
		t.Errorf("Local: loopback pull %v, import %v, pipe.local %v; want all true", pulled.Local, imported.Local, local.Local)
	}
	again, err := s.Pull(ctxT(t), "registry.example/team/box:1", PullOptions{Policy: PullNever})
	if err != nil || !again.Local {
		t.Errorf("the imported image read again: %v, Local %v", err, again != nil && again.Local)
	}
	if isLocalRef("registry.example/team/box:1") || isLocalRef("alpine") || !isLocalRef("localhost:5000/x") {
		t.Errorf("isLocalRef")
	}
}

func TestPutImageOnce(t *testing.T) {
	reg := newRegistry(t)
	rem := openTestRemote(t, reg.Host+"/team/cache", RemoteOptions{})
	img := smallImage(t, "amd64", "agent")
	ref, err := rem.PutImage(ctxT(t), img, "pipe-agent-0123456789ab")
	if err != nil || ref != reg.Host+"/team/cache@"+mustDigest(t, img).String() {
		t.Fatalf("PutImage: %q %v", ref, err)
	}
	puts := 0
	reg.setIntercept(func(w http.ResponseWriter, r *http.Request, n int) bool {
		if r.Method == http.MethodPut || r.Method == http.MethodPost {
			puts++
		}
		return false
	})
	if again, err := rem.PutImage(ctxT(t), img, "pipe-agent-0123456789ab"); err != nil || again != ref || puts != 0 {
		t.Errorf("second PutImage: %q %v, %d uploads", again, err, puts)
	}
}
