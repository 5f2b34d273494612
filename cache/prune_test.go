package cache

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/pipe-run/pipe/internal/testimage"
)

func prunedIDs(rep PruneReport, kind string) []string {
	var ids []string
	for _, p := range rep.Removed {
		if p.Kind == kind {
			ids = append(ids, p.ID)
		}
	}
	return ids
}

func TestPruneKeepsWhatALiveLeaseUses(t *testing.T) {
	reg := newRegistry(t)
	la := filesLayer(t, testimage.File{Path: "a", Body: "a"})
	lb := filesLayer(t, testimage.File{Path: "b", Body: "b"})
	refA := reg.push(t, "a:1", busybox(t, la))
	refB := reg.push(t, "b:1", busybox(t, lb))
	s := newStore(t)
	if _, err := s.Pull(ctxT(t), refA, PullOptions{}); err != nil {
		t.Fatal(err)
	}
	lease, err := s.Lease(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	imgB, err := s.Pull(ctxT(t), refB, PullOptions{Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
	// Nothing unused yet.
	if rep, err := s.Prune(ctxT(t), PruneOptions{}); err != nil || len(rep.Removed) != 0 {
		t.Fatalf("prune with every image stored: %+v %v", rep, err)
	}
	for _, r := range []string{refA, refB} {
		if _, err := s.RemoveImage(r); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := s.Prune(ctxT(t), PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := prunedIDs(rep, "layer"); !slices.Equal(got, []string{mustDiffID(t, la).String()}) {
		t.Errorf("removed layers %v, want only a's own layer", got)
	}
	for _, d := range imgB.Layers {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("leased layer %s removed", d)
		}
	}
	lease.Release()
	rep, err = s.Prune(ctxT(t), PruneOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := prunedIDs(rep, "layer"); len(got) != 2 {
		t.Errorf("after release removed layers %v, want b's two", got)
	}
	if u, _ := s.Usage(ctxT(t)); u.Kinds[2].Entries != 0 || u.Kinds[1].Entries != 0 {
		t.Errorf("usage after prune: %+v", u)
	}
}

func TestPruneDropsLeasesOfDeadProcesses(t *testing.T) {
	s := newStore(t)
	if _, err := s.CommitResult("k1", mkStaging(t, s), ResultMeta{}); err != nil {
		t.Fatal(err)
	}
	// A lease whose process died: its lock file is no longer locked.
	base := filepath.Join(s.Root(), leasesDir, "999999-1-dead")
	os.WriteFile(base+".lock", nil, 0o644)
	os.WriteFile(base+".json", []byte(`["k1"]`), 0o644)
	rep, err := s.Prune(ctxT(t), PruneOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := prunedIDs(rep, "result"); !slices.Equal(got, []string{"k1"}) {
		t.Errorf("removed results %v", got)
	}
	if _, err := os.Stat(base + ".lock"); !os.IsNotExist(err) {
		t.Error("dead lease kept")
	}
}

func mkStaging(t *testing.T, s *Store) string {
	dir, err := s.NewStaging("upper")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "f"), []byte("f"), 0o644)
	return dir
}

func TestPruneResultsByAgeAndAll(t *testing.T) {
	s := newStore(t)
	for _, k := range []string{"old", "new", "leased"} {
		if _, err := s.CommitResult(k, mkStaging(t, s), ResultMeta{}); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-10 * 24 * time.Hour)
	for _, k := range []string{"old", "leased"} {
		os.Chtimes(filepath.Join(s.resultPath(k), entryMeta), past, past)
	}
	lease, _ := s.Lease(ctxT(t))
	defer lease.Release()
	lease.Add("leased")
	_, release, _ := s.Volume(ctxT(t), "busy")
	defer release()
	_, rel2, _ := s.Volume(ctxT(t), "idle")
	rel2()

	rep, err := s.Prune(ctxT(t), PruneOptions{OlderThan: 168 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := prunedIDs(rep, "result"); !slices.Equal(got, []string{"old"}) {
		t.Errorf("--older-than removed %v, want [old]", got)
	}
	if _, err := s.Result("new"); err != nil {
		t.Error(err)
	}
	rep, err = s.Prune(ctxT(t), PruneOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := prunedIDs(rep, "result"); !slices.Equal(got, []string{"new"}) {
		t.Errorf("--all removed results %v, want [new]", got)
	}
	if got := prunedIDs(rep, "volume"); !slices.Equal(got, []string{"idle"}) {
		t.Errorf("--all removed volumes %v, want [idle]", got)
	}
}
