package cache

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestWorkspaceHashCachesCountedAndPruned(t *testing.T) {
	s := newStore(t)
	if err := os.WriteFile(filepath.Join(s.WorkspacesDir(), "0123456789abcdef.hashes"), make([]byte, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	writing := filepath.Join(s.WorkspacesDir(), ".hashcache-123") // a run's temp file
	if err := os.WriteFile(writing, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := s.Usage(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(u.Kinds, func(k KindUsage) bool { return k.Kind == "workspaces" })
	if i < 0 || u.Kinds[i].Entries != 2 || u.Kinds[i].Bytes < 64<<10 {
		t.Fatalf("usage %+v: want kind workspaces with 2 entries and at least 64 KiB", u.Kinds)
	}

	rep, err := s.Prune(ctxT(t), PruneOptions{OlderThan: 1})
	if err != nil {
		t.Fatal(err)
	}
	if got := prunedIDs(rep, "workspace"); len(got) != 0 {
		t.Errorf("prune without All removed hash caches %v", got)
	}
	rep, err = s.Prune(ctxT(t), PruneOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := prunedIDs(rep, "workspace"); !slices.Equal(got, []string{"0123456789abcdef.hashes"}) {
		t.Errorf("prune --all removed hash caches %v, want the one", got)
	}
	if _, err := os.Stat(writing); err != nil {
		t.Errorf("prune --all removed a hash cache being written: %v", err)
	}
}
