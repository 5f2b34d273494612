package workspace

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wsGit runs git in dir.
func wsGit(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
}

// wsWrite writes files (path: content) under root, with old mtimes so the
// hash cache does not see them as racily clean.
func wsWrite(t *testing.T, root string, files map[string]string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
}

// wsSnapshot snapshots repo into a fresh dir and returns the workspace.
func wsSnapshot(t *testing.T, repo, cache string) *Workspace {
	t.Helper()
	w, err := Snapshot(context.Background(), repo, filepath.Join(t.TempDir(), "ws"), cache)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// wsPaths lists the files of a snapshot dir (walking it for real).
func wsPaths(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

func needsGit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
}

// wsGitRepo makes a repo with tracked, untracked, ignored, pipeignored,
// deleted-but-tracked files, a symlink and an executable.
func wsGitRepo(t *testing.T) string {
	needsGit(t)
	repo := t.TempDir()
	wsGit(t, repo, "init", "-q")
	wsWrite(t, repo, map[string]string{
		"tracked.txt":        "tracked\n",
		"src/main.go":        "package main\n",
		"deleted.txt":        "soon gone\n",
		".gitignore":         "*.o\n/build/\n",
		".pipeignore":        "local/\n*.tmp\n!keep.tmp\n",
		"script.sh":          "#!/bin/sh\necho hi\n",
		"tracked-but-pi.tmp": "tracked, but .pipeignore wins\n",
	})
	os.Chmod(filepath.Join(repo, "script.sh"), 0o755)
	os.Symlink("src/main.go", filepath.Join(repo, "link"))
	wsGit(t, repo, "add", ".")
	wsGit(t, repo, "commit", "-q", "-m", "init")
	os.Remove(filepath.Join(repo, "deleted.txt"))
	wsWrite(t, repo, map[string]string{
		"untracked.txt":    "new\n",
		"obj.o":            "ignored by git\n",
		"build/out":        "ignored dir\n",
		"local/cfg":        "ignored by .pipeignore\n",
		"scratch.tmp":      "ignored by .pipeignore\n",
		"keep.tmp":         "re-included\n",
		"nested/.git/HEAD": "nested repo's git dir\n",
		"nested/file":      "nested repo file\n",
	})
	return repo
}

func TestSnapshotGitRepo(t *testing.T) {
	repo := wsGitRepo(t)
	w := wsSnapshot(t, repo, "")
	want := []string{".gitignore", ".pipeignore", "keep.tmp", "link", "nested/file", "script.sh", "src/main.go", "tracked.txt", "untracked.txt"}
	if got := wsPaths(t, w.Dir()); !slices.Equal(got, want) {
		t.Errorf("snapshot files:\n got %q\nwant %q", got, want)
	}
	if files, _ := w.Files(nil); !slices.Equal(files, want) {
		t.Errorf("Files(nil) = %q", files)
	}
	if len(w.Notes()) != 0 {
		t.Errorf("notes: %q", w.Notes())
	}
	checkSnapshotEntries(t, repo, w.Dir())
}

// checkSnapshotEntries checks links, symlinks and modes.
func checkSnapshotEntries(t *testing.T, repo, dir string) {
	t.Helper()
	target, err := os.Readlink(filepath.Join(dir, "link"))
	if err != nil || target != "src/main.go" {
		t.Errorf("link: %q, %v; want a symlink to src/main.go", target, err)
	}
	fi, err := os.Stat(filepath.Join(dir, "script.sh"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("script.sh mode = %v, %v; want 0755", fi.Mode(), err)
	}
	a, _ := os.Stat(filepath.Join(repo, "tracked.txt"))
	b, _ := os.Stat(filepath.Join(dir, "tracked.txt"))
	if !os.SameFile(a, b) {
		t.Error("tracked.txt is not a hard link to the repo's file")
	}
}

func TestSnapshotOutsideGit(t *testing.T) {
	repo := t.TempDir()
	wsWrite(t, repo, map[string]string{
		"a.txt":        "a\n",
		"dir/b.txt":    "b\n",
		".git/config":  "not a real repo\n",
		".pipeignore":  "*.log\nbig/\n",
		"x.log":        "log\n",
		"big/blob":     "blob\n",
		"dir/.git":     "gitfile\n",
		"dir/keep.txt": "k\n",
	})
	os.Symlink("a.txt", filepath.Join(repo, "sym"))
	w := wsSnapshot(t, repo, "")
	want := []string{".pipeignore", "a.txt", "dir/b.txt", "dir/keep.txt", "sym"}
	if got := wsPaths(t, w.Dir()); !slices.Equal(got, want) {
		t.Errorf("snapshot files:\n got %q\nwant %q", got, want)
	}
}

func TestSnapshotNeedsEmptyDir(t *testing.T) {
	repo := t.TempDir()
	wsWrite(t, repo, map[string]string{"a": "a"})
	dst := t.TempDir()
	wsWrite(t, dst, map[string]string{"x": "x"})
	if _, err := Snapshot(context.Background(), repo, dst, ""); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Snapshot into a non-empty dir: %v", err)
	}
}

// TestSnapshotCrossDevice snapshots into /dev/shm (tmpfs): hard links fail
// with EXDEV and files are copied (tmpfs has no reflinks), with a note.
func TestSnapshotCrossDevice(t *testing.T) {
	shm, err := os.MkdirTemp("/dev/shm", "pipe-ws-")
	if err != nil {
		t.Skipf("no /dev/shm: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(shm) })
	repo := wsGitRepo(t)
	if sameDevice(t, repo, shm) {
		t.Skip("/dev/shm is on the same filesystem as the temp dir")
	}
	w, err := Snapshot(context.Background(), repo, filepath.Join(shm, "ws"), "")
	if err != nil {
		t.Fatal(err)
	}
	notes := strings.Join(w.Notes(), "\n")
	if !strings.Contains(notes, "another filesystem") {
		t.Errorf("no note about the copy: %q", notes)
	}
	b, err := os.ReadFile(filepath.Join(w.Dir(), "src/main.go"))
	if err != nil || string(b) != "package main\n" {
		t.Errorf("copied file: %q, %v", b, err)
	}
	fi, _ := os.Stat(filepath.Join(w.Dir(), "script.sh"))
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("copied script.sh mode = %v", fi.Mode())
	}
	linked := wsSnapshot(t, repo, "")
	d1, _ := w.Digest(nil)
	d2, _ := linked.Digest(nil)
	if d1 != d2 {
		t.Error("copied and linked snapshots of one repo have different digests")
	}
}

func sameDevice(t *testing.T, a, b string) bool {
	var sa, sb syscall.Stat_t
	if syscall.Stat(a, &sa) != nil || syscall.Stat(b, &sb) != nil {
		t.Fatal("stat")
	}
	return sa.Dev == sb.Dev
}

func TestWorkspaceDigest(t *testing.T) {
	repo := t.TempDir()
	wsWrite(t, repo, map[string]string{"src/a.go": "a", "src/b.go": "b", "docs/x.md": "x"})
	digest := func(globs ...string) string {
		t.Helper()
		d, err := wsSnapshot(t, repo, "").Digest(globs)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	all, src := digest(), digest("src/**")
	if !strings.HasPrefix(all, "sha256:") || all == src {
		t.Fatalf("digests %s %s", all, src)
	}
	wsWrite(t, repo, map[string]string{"docs/x.md": "changed"})
	if digest("src/**") != src {
		t.Error("a change outside the inputs changed their digest")
	}
	if digest() == all {
		t.Error("a change did not change the whole snapshot's digest")
	}
	all = digest()
	os.Chmod(filepath.Join(repo, "src/a.go"), 0o664)
	if digest() != all {
		t.Error("a group-write bit changed the digest (only the execute bit counts)")
	}
	os.Chmod(filepath.Join(repo, "src/a.go"), 0o755)
	if digest() == all {
		t.Error("the execute bit did not change the digest")
	}
	if _, err := wsSnapshot(t, repo, "").Digest([]string{"[z-a]"}); err == nil {
		t.Error("a bad glob was accepted")
	}
}

func TestHashCache(t *testing.T) {
	repo := t.TempDir()
	files := map[string]string{}
	for _, n := range []string{"a", "b", "c", "d/e", "d/f"} {
		files[n] = "content of " + n
	}
	wsWrite(t, repo, files)
	cache := filepath.Join(t.TempDir(), "hashes")
	w1 := wsSnapshot(t, repo, cache) // files are an hour old: not racy
	if w1.rehashed != 5 {
		t.Errorf("cold: rehashed %d files, want 5", w1.rehashed)
	}
	w2 := wsSnapshot(t, repo, cache)
	if w2.rehashed != 0 {
		t.Errorf("warm: rehashed %d files, want 0", w2.rehashed)
	}
	d1, _ := w1.Digest(nil)
	d2, _ := w2.Digest(nil)
	if d1 != d2 {
		t.Error("warm digest differs from cold")
	}

	// Change one file, keeping its size; give it an mtime in the past but
	// different from before: exactly that file is read again.
	p := filepath.Join(repo, "d/e")
	os.WriteFile(p, []byte("CONTENT OF d/e"), 0o644)
	past := time.Now().Add(-30 * time.Minute)
	os.Chtimes(p, past, past)
	w3 := wsSnapshot(t, repo, cache)
	if w3.rehashed != 1 {
		t.Errorf("after changing one file: rehashed %d, want 1", w3.rehashed)
	}
	if d3, _ := w3.Digest(nil); d3 == d1 {
		t.Error("digest did not change with the content")
	}

	// A file modified in the same second as the cache write is racily
	// clean: it is hashed again on every run until the cache is newer.
	os.WriteFile(filepath.Join(repo, "a"), []byte("new a"), 0o644)
	w4 := wsSnapshot(t, repo, cache)
	// The cache may have been written a second later than a on a slow
	// machine: give it a's mtime, so that a is racily clean for certain.
	if fi, err := os.Stat(filepath.Join(repo, "a")); err == nil {
		os.Chtimes(cache, fi.ModTime(), fi.ModTime())
	}
	w5 := wsSnapshot(t, repo, cache)
	if w4.rehashed != 1 || w5.rehashed != 1 {
		t.Errorf("racy file: rehashed %d then %d, want 1 and 1", w4.rehashed, w5.rehashed)
	}
	// Once the cache is written in a later second, the file is trusted.
	past = time.Now().Add(-10 * time.Second)
	os.Chtimes(cache, past, past)
	os.Chtimes(filepath.Join(repo, "a"), past.Add(-time.Minute), past.Add(-time.Minute))
	wsSnapshot(t, repo, cache)
	if w := wsSnapshot(t, repo, cache); w.rehashed != 0 {
		t.Errorf("after the racy window: rehashed %d, want 0", w.rehashed)
	}
	before, _ := os.Stat(cache)
	wsSnapshot(t, repo, cache)
	if after, _ := os.Stat(cache); !after.ModTime().Equal(before.ModTime()) {
		t.Error("an unchanged hash cache was rewritten")
	}

	// A truncated cache keeps the entries before the cut.
	b, _ := os.ReadFile(cache)
	os.WriteFile(cache, b[:len(b)-40], 0o644)
	os.Chtimes(cache, past, past)
	if w := wsSnapshot(t, repo, cache); w.rehashed != 1 {
		t.Errorf("truncated cache: rehashed %d, want 1", w.rehashed)
	}

	// A corrupt cache is ignored, then rewritten.
	os.WriteFile(cache, []byte("garbage"), 0o644)
	if w := wsSnapshot(t, repo, cache); w.rehashed != 5 {
		t.Errorf("corrupt cache: rehashed %d, want 5", w.rehashed)
	}
}

// TestHashCacheV1 checks that a cache in the text format of earlier
// versions is trusted, then rewritten in the current one.
func TestHashCacheV1(t *testing.T) {
	repo := t.TempDir()
	wsWrite(t, repo, map[string]string{"a": "content of a", "d/e": "content of d/e"})
	cache := filepath.Join(t.TempDir(), "hashes")
	var v1 strings.Builder
	v1.WriteString(hashCacheHeaderV1)
	for _, name := range []string{"a", "d/e"} {
		fi, err := os.Lstat(filepath.Join(repo, name))
		if err != nil {
			t.Fatal(err)
		}
		k := statKeyOf(fi)
		fmt.Fprintf(&v1, "%s\x00%d %d %d %o %x\n", name, k.size, k.mtime, k.ino, k.mode, sha256.Sum256([]byte("content of "+name)))
	}
	os.WriteFile(cache, []byte(v1.String()), 0o644)
	past := time.Now().Add(-time.Minute)
	os.Chtimes(cache, past, past)
	if w := wsSnapshot(t, repo, cache); w.rehashed != 0 {
		t.Errorf("v1 cache: rehashed %d, want 0", w.rehashed)
	}
	if b, _ := os.ReadFile(cache); !strings.HasPrefix(string(b), hashCacheHeader) {
		t.Errorf("the v1 cache was not rewritten: %q", b[:min(len(b), 20)])
	}
	os.Chtimes(cache, past, past)
	if w := wsSnapshot(t, repo, cache); w.rehashed != 0 {
		t.Errorf("rewritten cache: rehashed %d, want 0", w.rehashed)
	}
}

func FuzzParseHashCache(f *testing.F) {
	f.Add("\x01a\x01\x02\x03\x04" + strings.Repeat("s", 32))
	f.Fuzz(func(t *testing.T, b string) {
		for _, e := range parseHashCache(b) {
			if !strings.Contains(b, e.path) {
				t.Fatalf("path %q is not from the input", e.path)
			}
		}
	})
}

func TestSnapshotCanceled(t *testing.T) {
	repo := t.TempDir()
	wsWrite(t, repo, map[string]string{"a": "a", "b": "b"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dst := filepath.Join(t.TempDir(), "ws")
	if _, err := Snapshot(ctx, repo, dst, ""); err == nil {
		t.Fatal("Snapshot with a canceled context succeeded")
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Error("a failed snapshot left its dir behind")
	}
}

func TestScan(t *testing.T) {
	repo := wsGitRepo(t)
	cache := filepath.Join(t.TempDir(), "h")
	w, err := Scan(context.Background(), repo, cache)
	if err != nil {
		t.Fatal(err)
	}
	if w.Dir() != "" {
		t.Errorf("Scan made a dir: %s", w.Dir())
	}
	s := wsSnapshot(t, repo, cache)
	d1, _ := w.Digest(nil)
	d2, _ := s.Digest(nil)
	if d1 != d2 {
		t.Error("Scan and Snapshot digests differ")
	}
	if s.rehashed != 0 {
		t.Errorf("Snapshot after Scan rehashed %d files", s.rehashed)
	}
}

// TestDigestEncoding pins what a digest covers, byte for byte (the values
// were computed apart from this code): every step key of every user's cache
// depends on it.
func TestDigestEncoding(t *testing.T) {
	w := &Workspace{files: []wsFile{
		{path: "bin/run", exec: true, sum: sha256.Sum256([]byte("#!/bin/sh"))},
		{path: "link", symlink: true, sum: sha256.Sum256([]byte("src/a.go"))},
		{path: "src/a.go", sum: sha256.Sum256([]byte("package a"))},
		{path: "src/é/b.go", sum: sha256.Sum256([]byte("package b"))},
	}}
	for _, tc := range []struct {
		globs []string
		want  string
	}{
		{nil, "sha256:f70f3e0611065094ea5046d4097503af0c580a0c568fd92f09448440c4ca1322"},
		{[]string{"src/**"}, "sha256:64438cdf3b83e151b3a6cfda9e94b27265645a9d29cf6ad3cd975f72e7fc3bf8"},
		{[]string{"**/*.go", "!src/a.go"}, "sha256:f7e091f5b1f7bce4ba37eea83d03a0d7e463a1ff7ce7007f63b315e6f0225e36"},
		{[]string{"nothing"}, "sha256:d21036364cf868b062408a284417a07439910e72b9871417b85de5ebe084cb81"},
	} {
		got, err := w.Digest(tc.globs)
		if err != nil {
			t.Fatal(err)
		}
		if got != tc.want {
			t.Errorf("Digest(%q) = %s, want %s", tc.globs, got, tc.want)
		}
	}
}
