package cache

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestResults(t *testing.T) {
	s := newStore(t)
	key := "0123abcd"
	if _, err := s.Result(key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("miss: %v", err)
	}
	dir, err := s.NewStaging("upper")
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "out"), 0o755)
	os.WriteFile(filepath.Join(dir, "out", "bin"), []byte("12345"), 0o755)
	r, err := s.CommitResult(key, dir, ResultMeta{Step: "build", RunID: "r1"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Meta.Size != 5 || r.Meta.Files != 2 || r.Meta.Step != "build" || r.Meta.Created.IsZero() {
		t.Errorf("meta %+v", r.Meta)
	}
	if readFile(t, filepath.Join(r.Dir, "out", "bin")) != "12345" {
		t.Error("content lost")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("staging dir left: %v", err)
	}

	// A second commit of the same key: the first wins, the dir is removed.
	other := t.TempDir() + "/other"
	os.MkdirAll(other, 0o755)
	os.WriteFile(filepath.Join(other, "x"), []byte("x"), 0o644)
	r2, err := s.CommitResult(key, other, ResultMeta{Step: "build", RunID: "r2"})
	if err != nil || r2.Meta.RunID != "r1" {
		t.Fatalf("second commit: %+v %v", r2, err)
	}
	if _, err := os.Stat(other); !os.IsNotExist(err) {
		t.Errorf("loser dir left: %v", err)
	}
	if len(tmpEntries(t, s)) != 0 {
		t.Errorf("tmp/ not empty: %v", tmpEntries(t, s))
	}
	if _, err := s.CommitResult("../x", t.TempDir(), ResultMeta{}); err == nil {
		t.Error("a key with .. was accepted")
	}
}

func TestCommitResultFromAnotherFilesystem(t *testing.T) {
	needsRoot(t) // the extractor writes overlay xattrs and whiteouts
	src, err := os.MkdirTemp("/dev/shm", "pipe-cache-test-")
	if err != nil {
		t.Skip("no /dev/shm")
	}
	defer os.RemoveAll(src)
	os.WriteFile(filepath.Join(src, "f"), []byte("tmpfs"), 0o644)
	s := newStore(t)
	r, err := s.CommitResult("cross", src, ResultMeta{})
	if err != nil {
		t.Fatal(err)
	}
	if readFile(t, filepath.Join(r.Dir, "f")) != "tmpfs" {
		t.Error("content lost")
	}
	if _, err := os.Stat(src); !os.IsNotExist(err) {
		t.Errorf("source left: %v", err)
	}
}

func TestVolumeIsExclusive(t *testing.T) {
	s := newStore(t)
	dir, release, err := s.Volume(ctxT(t), "gomod")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := s.Volume(ctx, "gomod"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second holder: %v, want a deadline error", err)
	}
	got := make(chan error, 1)
	go func() {
		_, rel, err := s.Volume(ctxT(t), "gomod")
		if err == nil {
			rel()
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	release()
	release() // idempotent
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Volume(ctxT(t), "../etc"); err == nil {
		t.Error("a bad volume name was accepted")
	}
}

func TestSharedVolumeHoldersCoexistButExcludeExclusive(t *testing.T) {
	s := newStore(t)
	dir1, rel1, err := s.SharedVolume(ctxT(t), "gobuild")
	if err != nil {
		t.Fatal(err)
	}
	dir2, rel2, err := s.SharedVolume(ctxT(t), "gobuild")
	if err != nil {
		t.Fatalf("a second shared holder must not wait: %v", err)
	}
	if dir1 != dir2 {
		t.Fatalf("shared holders got different dirs: %s %s", dir1, dir2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := s.Volume(ctx, "gobuild"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("exclusive holder while shared ones hold it: %v, want a deadline error", err)
	}
	rel1()
	rel2()
	_, rel, err := s.Volume(ctxT(t), "gobuild")
	if err != nil {
		t.Fatalf("exclusive after shared holders released: %v", err)
	}
	rel()
}

func TestRemoveStagingLeavesNothingInTmp(t *testing.T) {
	s := newStore(t)
	dir, err := s.NewStaging("work")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveStaging(dir); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(s.TempDir()); len(ents) != 0 {
		t.Errorf("tmp/ holds %d entries after RemoveStaging", len(ents))
	}
	other := t.TempDir()
	if err := s.RemoveStaging(other); err == nil {
		t.Error("RemoveStaging accepted a dir that is not a staging dir")
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("RemoveStaging touched a dir not its own: %v", err)
	}
}

func TestScratchIsOneEntryRemovedWhole(t *testing.T) {
	s := newStore(t)
	dir, err := s.NewScratch("work")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(dir) != s.TempDir() {
		t.Errorf("scratch dir %s is not a tmp/ entry", dir)
	}
	os.MkdirAll(filepath.Join(dir, "work", "incompat"), 0o755)
	if err := s.RemoveStaging(dir); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(s.TempDir()); len(ents) != 0 {
		t.Errorf("tmp/ holds %d entries after RemoveStaging", len(ents))
	}
	// Not the tmp/ dir itself, nor another process's entry.
	for _, d := range []string{s.TempDir(), filepath.Join(s.TempDir(), "1-1-abc-work")} {
		os.MkdirAll(d, 0o755)
		if err := s.RemoveStaging(d); err == nil {
			t.Errorf("RemoveStaging accepted %s", d)
		}
		if _, err := os.Stat(d); err != nil {
			t.Errorf("RemoveStaging removed %s: %v", d, err)
		}
	}
	if _, err := s.NewScratch("a/b"); err == nil {
		t.Error("a kind with a slash was accepted")
	}
}
