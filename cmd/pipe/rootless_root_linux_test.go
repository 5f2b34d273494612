package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/pipe-run/pipe/internal/testimage"
	"github.com/pipe-run/pipe/internal/testuser"
)

// rootlessPipeline exercises what an ordinary user's pipe run promises: the
// checkout owned by root in the step, chown to other ids, services by name
// on loopback, the user's own network with network: host (and a read-only
// /sys bound from the host), no host processes in sight, and limits that
// are said not to apply where no cgroup is delegated.
const rootlessPipeline = `version: 1
image: pipe.test/busybox:rootless
services:
  web:
    image: pipe.test/busybox:rootless
    command: ["sh", "-c", "mkdir -p /srv && echo hello-from-web >/srv/index.html && exec httpd -f -p 8080 -h /srv"]
    ready: {run: "wget -qO- http://127.0.0.1:8080/"}
steps:
  owners:
    run:
      - test "$(id -u):$(id -g)" = 0:0
      - test "$(stat -c %u:%g src.txt)" = 0:0
      - echo made >made.txt
      - mkdir dist && echo x >dist/chowned && chown 1000:100 dist/chowned
  hidden:
    run:
      - test "$(ls /proc | grep -c '^[0-9]')" -lt 10
      - test ! -e {{repo}}/src.txt
  svc:
    services: [web]
    run: wget -qO- http://web:8080/ | grep hello-from-web
  hostnet:
    network: host
    cache: false
    run:
      - wget -qO- http://127.0.0.1:{{port}}/ | grep hello-from-host
      - test -d /sys/kernel
      - if touch /sys/pipe-probe 2>/dev/null; then exit 9; fi
  limited:
    resources: {memory: 64M, pids: 100}
    run: echo limited-says-hello
`

// As root: an ordinary user (with subordinate ids) imports an image, runs a
// pipeline twice (the second all cache hits), is refused a limited step with
// --strict-limits, and removes the whole store.
func TestRootlessPipeRun(t *testing.T) {
	needsRoot(t)
	u := testuser.New(t, true)
	bin := u.CopyExecutable(t, "pipe")
	oci := rootlessImage(t, u.Dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "hello-from-host") })}
	go srv.Serve(ln)
	defer srv.Close()
	repo := filepath.Join(u.Home, "repo")
	os.Mkdir(repo, 0o755)
	yml := strings.NewReplacer("{{port}}", fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), "{{repo}}", repo).Replace(rootlessPipeline)
	os.WriteFile(filepath.Join(repo, ".pipe.yml"), []byte(yml), 0o644)
	os.WriteFile(filepath.Join(repo, "src.txt"), []byte("source\n"), 0o644)
	u.Chown(t, repo)
	pipe := func(args ...string) (string, int) {
		cmd := u.Command(false, []string{"NO_COLOR=1"}, bin, args...)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		if _, ok := err.(*exec.ExitError); err != nil && !ok {
			t.Fatal(err)
		}
		return string(out), cmd.ProcessState.ExitCode()
	}
	if out, code := pipe("image", "import", oci, "pipe.test/busybox:rootless"); code != 0 {
		t.Fatalf("image import as %s: exit %d\n%s", u.Name, code, out)
	}
	store := filepath.Join(u.Home, ".local", "share", "pipe")
	checkRootlessStore(t, u, store)
	out, code := pipe("run")
	if code != 0 {
		t.Fatalf("pipe run as %s: exit %d\n%s", u.Name, code, out)
	}
	if n := strings.Count(out, "NOT applied"); n != 1 || !strings.Contains(out, "memory 64 MiB") {
		t.Errorf("want one warning that the limits are not applied, got %d:\n%s", n, out)
	}
	checkRootlessOutputs(t, u, store)
	if out, code := pipe("logs", "limited"); code != 0 || !strings.Contains(out, "limited-says-hello") {
		t.Errorf("pipe logs limited: exit %d\n%s", code, out)
	}
	if out, code := pipe("run", "--json"); code != 0 || strings.Count(out, `"status":"cached"`) != 4 {
		t.Errorf("second run: exit %d, want 4 cached steps (hostnet has cache: false)\n%s", code, out)
	}
	out, code = pipe("run", "--strict-limits", "--no-cache", "limited")
	if code == 0 || !strings.Contains(out, "cannot be applied") || strings.Contains(out, "| limited") {
		t.Errorf("--strict-limits: exit %d, want the limited step refused\n%s", code, out)
	}
	if out, code := pipe("cache", "prune", "--all"); code != 0 {
		t.Fatalf("cache prune --all: exit %d\n%s", code, out)
	}
	rm := u.Command(false, nil, "/bin/rm", "-rf", store)
	if out, err := rm.CombinedOutput(); err != nil {
		t.Fatalf("after prune --all, %s cannot rm -rf the store: %v\n%s", u.Name, err, out)
	}
}

// rootlessImage writes the busybox test image as an OCI layout u can read.
func rootlessImage(t *testing.T, dir string) string {
	img, err := testimage.Busybox()
	if err != nil {
		t.Fatal(err)
	}
	oci := filepath.Join(dir, "oci")
	lp, err := layout.Write(oci, empty.Index)
	if err == nil {
		err = lp.AppendImage(img)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("chmod", "-R", "a+rX", oci).Run(); err != nil {
		t.Fatal(err)
	}
	return oci
}

// checkRootlessStore: the store is the user's, closed to others, and its
// layers' files are owned by the user (root in the image).
func checkRootlessStore(t *testing.T, u *testuser.User, store string) {
	t.Helper()
	st, err := os.Stat(store)
	if err != nil {
		t.Fatalf("the store is not in $XDG_DATA_HOME/pipe: %v", err)
	}
	if sys := st.Sys().(*syscall.Stat_t); int(sys.Uid) != u.UID || st.Mode().Perm() != 0o700 {
		t.Errorf("store %s: owner %d mode %v, want %d and 0700", store, sys.Uid, st.Mode().Perm(), u.UID)
	}
	bins, _ := filepath.Glob(filepath.Join(store, "layers", "sha256", "*", "fs", "bin", "busybox"))
	if len(bins) != 1 {
		t.Fatalf("extracted busybox: %v", bins)
	}
	if st, err := os.Stat(bins[0]); err != nil || int(st.Sys().(*syscall.Stat_t).Uid) != u.UID {
		t.Errorf("the image's root-owned busybox is not owned by %s on the host: %v", u.Name, err)
	}
}

// checkRootlessOutputs: what the owners step wrote is the user's on the
// host; what it chowned to 1000:100 is the subordinate ids 1000 and 100
// stand for.
func checkRootlessOutputs(t *testing.T, u *testuser.User, store string) {
	t.Helper()
	made, _ := filepath.Glob(filepath.Join(store, "results", "*", "fs", "made.txt"))
	chowned, _ := filepath.Glob(filepath.Join(store, "results", "*", "fs", "dist", "chowned"))
	if len(made) != 1 || len(chowned) != 1 {
		t.Fatalf("step outputs in the store: %v %v", made, chowned)
	}
	owner := func(p string) string {
		st, err := os.Lstat(p)
		if err != nil {
			return err.Error()
		}
		s := st.Sys().(*syscall.Stat_t)
		return fmt.Sprintf("%d:%d", s.Uid, s.Gid)
	}
	if got, want := owner(made[0]), fmt.Sprintf("%d:%d", u.UID, u.GID); got != want {
		t.Errorf("made.txt on the host: %s, want the user's %s", got, want)
	}
	if got := owner(chowned[0]); got == "1000:100" || strings.HasPrefix(got, fmt.Sprint(u.UID)) {
		t.Errorf("dist/chowned on the host: %s, want subordinate ids", got)
	}
}
