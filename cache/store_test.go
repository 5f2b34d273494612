package cache

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestDefaultRoot(t *testing.T) {
	t.Setenv("PIPE_HOME", "/srv/pipe")
	if got := DefaultRoot(); got != "/srv/pipe" {
		t.Errorf("with PIPE_HOME: %s", got)
	}
	t.Setenv("PIPE_HOME", "")
	t.Setenv("XDG_DATA_HOME", "/home/u/.data")
	want := "/home/u/.data/pipe"
	if os.Geteuid() == 0 {
		want = "/var/lib/pipe"
	}
	if got := DefaultRoot(); got != want {
		t.Errorf("DefaultRoot() = %s, want %s", got, want)
	}
}

func TestOpenCreatesLayoutAndCleansDeadTmp(t *testing.T) {
	root := t.TempDir()
	s := openStore(t, root)
	for _, d := range storeDirs {
		if fi, err := os.Stat(filepath.Join(root, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s: %v", d, err)
		}
	}
	// A process that has exited, and this live one.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(root, tmpDir, strconv.Itoa(cmd.Process.Pid)+"-123-abc-layer")
	recycled := filepath.Join(root, tmpDir, strconv.Itoa(os.Getpid())+"-1-abc-layer") // our pid, another start time
	live, err := s.NewStaging("work")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dead, recycled} {
		if err := os.MkdirAll(filepath.Join(d, "fs", "x"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	openStore(t, root)
	for _, d := range []string{dead, recycled} {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s survived Open: %v", d, err)
		}
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("live staging dir removed: %v", err)
	}
	if !strings.HasPrefix(live, s.TempDir()) {
		t.Errorf("staging %s is not under %s", live, s.TempDir())
	}
}

func TestOpenRefusesNewerLayout(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, layoutFile), []byte(`{"version": 99}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(root); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("err = %v", err)
	}
}

func TestDigestsAndNamesAreCheckedBeforeUse(t *testing.T) {
	for _, h := range []v1.Hash{{Algorithm: "sha256", Hex: "../../etc"}, {Algorithm: "md5", Hex: strings.Repeat("a", 64)}, {Algorithm: "sha256", Hex: strings.Repeat("A", 64)}} {
		if checkDigest(h) == nil {
			t.Errorf("checkDigest(%v) accepted", h)
		}
	}
	for _, n := range []string{"", ".", "..", "../x", "a/b", ".hidden", strings.Repeat("a", 200)} {
		if checkName("volume", n) == nil {
			t.Errorf("checkName(%q) accepted", n)
		}
	}
}

func TestBlobsAreVerified(t *testing.T) {
	s := newStore(t)
	b := []byte(`{"a":1}`)
	h := sha256Hash(b)
	if err := s.writeBlob(sha256Hash([]byte("other")), b); err == nil {
		t.Error("a blob was kept under the wrong digest")
	}
	if err := s.writeBlob(h, b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.blobPath(h), []byte(`{"a":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := s.readBlob(h)
	if _, ok := err.(*DigestError); !ok {
		t.Fatalf("reading a corrupt blob: %v", err)
	}
	if s.hasBlob(h) {
		t.Error("the corrupt blob was kept")
	}
}
