package workspace

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestWorkspacePlace(t *testing.T) {
	repo := t.TempDir()
	wsWrite(t, repo, map[string]string{"a.txt": "a", "src/b.txt": "b"})
	scan, err := Scan(context.Background(), repo, "")
	if err != nil {
		t.Fatal(err)
	}
	if scan.Dir() != "" {
		t.Fatalf("Scan made a dir: %s", scan.Dir())
	}
	snap, err := scan.Place(context.Background(), filepath.Join(t.TempDir(), "ws"))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(snap.Dir(), "src", "b.txt")); err != nil || string(b) != "b" {
		t.Fatalf("snapshot src/b.txt = %q, %v", b, err)
	}
	if !snap.SameFiles(scan) || snap.rehashed != 0 {
		t.Errorf("unchanged files: SameFiles %v, rehashed %d (want true, 0)", snap.SameFiles(scan), snap.rehashed)
	}

	// A file changed between the scan and the snapshot: the snapshot's
	// hashes say what it holds.
	wsWrite(t, repo, map[string]string{"a.txt": "changed"})
	snap2, err := scan.Place(context.Background(), filepath.Join(t.TempDir(), "ws"))
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := Scan(context.Background(), repo, "")
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := scan.Digest(nil)
	d2, _ := snap2.Digest(nil)
	d3, _ := fresh.Digest(nil)
	if snap2.SameFiles(scan) || d1 == d2 || d2 != d3 {
		t.Errorf("changed file: SameFiles %v; digests scan %s, snapshot %s, fresh scan %s", snap2.SameFiles(scan), d1, d2, d3)
	}
}

func TestHeadBranch(t *testing.T) {
	repo := t.TempDir()
	wsGit(t, repo, "init", "-q")
	wsWrite(t, repo, map[string]string{"a": "a"})
	wsGit(t, repo, "add", "a")
	wsGit(t, repo, "commit", "-qm", "a")
	wsGit(t, repo, "checkout", "-qb", "feature/x")
	sub := filepath.Join(repo, "sub")
	os.Mkdir(sub, 0o755)
	if b, ok := HeadBranch(sub); !ok || b != "feature/x" {
		t.Errorf("HeadBranch = %q, %v; want feature/x", b, ok)
	}
	wt := filepath.Join(t.TempDir(), "wt")
	wsGit(t, repo, "worktree", "add", "-q", "-b", "other", wt)
	if b, ok := HeadBranch(wt); !ok || b != "other" {
		t.Errorf("worktree: HeadBranch = %q, %v; want other", b, ok)
	}
	wsGit(t, repo, "checkout", "-q", "--detach")
	if b, ok := HeadBranch(repo); !ok || b != "HEAD" {
		t.Errorf("detached: HeadBranch = %q, %v; want HEAD", b, ok)
	}
	outside := t.TempDir()
	if b, ok := HeadBranch(outside); !ok || b != "" {
		t.Errorf("outside git: HeadBranch = %q, %v; want \"\", true (git prints nothing)", b, ok)
	}
	if out, err := exec.Command("git", "-C", outside, "rev-parse", "--abbrev-ref", "HEAD").Output(); err == nil {
		t.Errorf("git found a repository outside git: %q", out)
	}
	os.WriteFile(filepath.Join(outside, ".git"), []byte("not a gitdir line"), 0o644)
	if _, ok := HeadBranch(outside); ok {
		t.Error("HeadBranch told a branch from a .git file it cannot follow")
	}
}
