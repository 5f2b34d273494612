package main

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/pipe-run/pipe/internal/testimage"
	"github.com/pipe-run/pipe/internal/testuser"
)

// rawLayer is a layer of the given tar entries (a regular file when Body
// is set or the type is unset).
func rawLayer(t *testing.T, hdrs ...*tar.Header) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		body := h.Linkname
		if h.Typeflag == tar.TypeReg {
			h.Size, h.Linkname = int64(len(body)), ""
		}
		h.ModTime, h.Format = testimage.Epoch, tar.FormatPAX
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(body))
		}
	}
	tw.Close()
	l, err := testimage.LayerFromTar(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// writeLayout writes busybox plus layers as an OCI layout u can read.
func writeLayout(t *testing.T, dir string, layers ...v1.Layer) string {
	t.Helper()
	img, err := testimage.Busybox(layers...)
	if err != nil {
		t.Fatal(err)
	}
	lp, err := layout.Write(dir, empty.Index)
	if err == nil {
		err = lp.AppendImage(img)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("chmod", "-R", "a+rX", dir).Run(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Rootless, the store extracts an image's whiteouts and opaque dirs in the
// user namespace (0/0 char devices, user.overlay.opaque) so that the
// overlay hides what they hide, keeps owners (on subordinate ids) and
// setuid bits, and refuses a crafted layer without writing outside it.
func TestRootlessLayers(t *testing.T) {
	needsRoot(t)
	u := testuser.New(t, true)
	bin := u.CopyExecutable(t, "pipe")
	files := rawLayer(t,
		&tar.Header{Name: "etc/motd", Linkname: "hidden"},
		&tar.Header{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o755},
		&tar.Header{Name: "data/old", Linkname: "hidden"},
		&tar.Header{Name: "srv/", Typeflag: tar.TypeDir, Mode: 0o750, Uid: 1000, Gid: 100},
		&tar.Header{Name: "srv/owned", Linkname: "x", Uid: 1000, Gid: 100},
		&tar.Header{Name: "bin/suid", Linkname: "#!/bin/sh\n", Mode: 0o4755})
	deletes := rawLayer(t,
		&tar.Header{Name: "etc/.wh.motd"},
		&tar.Header{Name: "data/.wh..wh..opq"},
		&tar.Header{Name: "data/new", Linkname: "shown"})
	good := writeLayout(t, filepath.Join(u.Dir, "good"), files, deletes)
	escape := filepath.Join(u.Home, "escaped")
	evil := writeLayout(t, filepath.Join(u.Dir, "evil"), rawLayer(t,
		&tar.Header{Name: "../../../../../../" + escape, Linkname: "out"}))
	repo := filepath.Join(u.Home, "repo")
	os.Mkdir(repo, 0o755)
	os.WriteFile(filepath.Join(repo, ".pipe.yml"), []byte(`version: 1
image: pipe.test/layers:1
steps:
  check:
    run:
      - test ! -e /etc/motd
      - test ! -e /data/old
      - test "$(cat /data/new)" = shown
      - test "$(stat -c %u:%g:%a /srv /srv/owned)" = "$(printf '1000:100:750\n1000:100:644')"
      - test "$(stat -c %a /bin/suid)" = 4755
      - rm /data/new && mkdir /data/new && touch /etc/motd
`), 0o644)
	u.Chown(t, repo)
	pipe := func(args ...string) (string, int) {
		cmd := u.Command(false, []string{"NO_COLOR=1"}, bin, args...)
		cmd.Dir = repo
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	if out, code := pipe("image", "import", good, "pipe.test/layers:1"); code != 0 {
		t.Fatalf("import: exit %d\n%s", code, out)
	}
	if out, code := pipe("run"); code != 0 {
		t.Fatalf("run over whiteouts and opaque dirs: exit %d\n%s", code, out)
	}
	store := filepath.Join(u.Home, ".local", "share", "pipe")
	checkLayerOnDisk(t, u, store)
	out, code := pipe("image", "import", evil, "pipe.test/evil:1")
	if code == 0 || !strings.Contains(out, "escapes the layer root") {
		t.Errorf("import of a layer with ../ entries: exit %d, want it refused\n%s", code, out)
	}
	if _, err := os.Lstat(escape); err == nil {
		t.Errorf("a crafted layer wrote %s outside the store", escape)
	}
	if out, code := pipe("cache", "prune", "--all"); code != 0 {
		t.Errorf("prune: exit %d\n%s", code, out)
	}
}

// checkLayerOnDisk: the opaque marker is a user.overlay xattr (never
// trusted.*), the whiteout a 0/0 char device, owners subordinate ids.
func checkLayerOnDisk(t *testing.T, u *testuser.User, store string) {
	t.Helper()
	wh, _ := filepath.Glob(filepath.Join(store, "layers", "sha256", "*", "fs", "etc", "motd"))
	var found bool
	for _, p := range wh {
		st, err := os.Lstat(p)
		if err == nil && st.Mode()&os.ModeCharDevice != 0 && st.Sys().(*syscall.Stat_t).Rdev == 0 {
			found = true
		}
	}
	if !found {
		t.Errorf("no 0/0 whiteout for etc/motd among %v", wh)
	}
	dirs, _ := filepath.Glob(filepath.Join(store, "layers", "sha256", "*", "fs", "data", "new"))
	if len(dirs) != 1 {
		t.Fatalf("data/new: %v", dirs)
	}
	data := filepath.Dir(dirs[0])
	v := make([]byte, 8)
	if n, err := syscall.Getxattr(data, "user.overlay.opaque", v); err != nil || string(v[:n]) != "y" {
		t.Errorf("opaque data/: user.overlay.opaque %q %v", v[:max(n, 0)], err)
	}
	if _, err := syscall.Getxattr(data, "trusted.overlay.opaque", v); err == nil {
		t.Error("opaque data/ carries trusted.overlay.opaque: a rootless store must not")
	}
	owned, _ := filepath.Glob(filepath.Join(store, "layers", "sha256", "*", "fs", "srv", "owned"))
	if len(owned) != 1 {
		t.Fatalf("srv/owned: %v", owned)
	}
	st, _ := os.Lstat(owned[0])
	if s := st.Sys().(*syscall.Stat_t); int(s.Uid) == u.UID || s.Uid == 1000 || s.Uid < 500000 {
		t.Errorf("srv/owned (uid 1000 in the image) is owned by host uid %d: want a subordinate id", s.Uid)
	}
}

// pipe debug as an ordinary user: the shell opens in the failed step's
// state, on the user's terminal, as root of the step.
func TestRootlessDebug(t *testing.T) {
	needsRoot(t)
	u := testuser.New(t, true)
	bin := u.CopyExecutable(t, "pipe")
	oci := rootlessImage(t, u.Dir)
	repo := filepath.Join(u.Home, "repo")
	os.Mkdir(repo, 0o755)
	os.WriteFile(filepath.Join(repo, ".pipe.yml"), []byte("version: 1\nimage: pipe.test/busybox:rootless\nsteps:\n  build:\n    run:\n      - echo written >out.txt\n      - exit 3\n"), 0o644)
	u.Chown(t, repo)
	imp := u.Command(false, nil, bin, "image", "import", oci, "pipe.test/busybox:rootless")
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("import: %v\n%s", err, out)
	}
	cmd := u.Command(false, []string{"NO_COLOR=1", "TERM=xterm"}, bin, "debug", "build")
	cmd.Dir = repo
	s := startPTYCmd(t, cmd)
	s.expect("exited 3] /workspace #")
	s.send(`echo "out=$(cat out.txt) uid=$(id -u) tty=$(tty)"`)
	s.expect("out=written uid=0 tty=/dev/pts/")
	s.send("exit 0")
	if code := s.wait(); code != 3 {
		t.Errorf("exit %d, want the step's 3\n%s", code, s.out.String())
	}
}
