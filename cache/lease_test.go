package cache

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestLeaseIsOneFileOfLines(t *testing.T) {
	s := newStore(t)
	l, err := s.Lease(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	for _, ids := range [][]string{{"sha256:a", "k1"}, {"k1"}, {"k2", "sha256:a"}} {
		if err := l.Add(ids...); err != nil {
			t.Fatal(err)
		}
	}
	ents, _ := os.ReadDir(filepath.Join(s.Root(), leasesDir))
	if len(ents) != 1 || !strings.HasSuffix(ents[0].Name(), ".lock") {
		t.Fatalf("leases/ holds %v, want the lock file alone", ents)
	}
	lock := filepath.Join(s.Root(), leasesDir, ents[0].Name())
	if b, _ := os.ReadFile(lock); string(b) != "sha256:a\nk1\nk2\n" {
		t.Errorf("lock file holds %q: each id once, one per line", b)
	}
	if err := l.Add("two\nlines"); err == nil {
		t.Error("an id with a newline was added")
	}

	// What a Prune reads while an Add writes: a last line cut short is not
	// an id yet.
	f, err := os.OpenFile(lock, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("sha256:hal")
	f.Close()
	// A live lease of an older pipe, which kept its ids in a JSON list.
	oldBase := filepath.Join(s.Root(), leasesDir, "1-1-old")
	old, err := lockFile(ctxT(t), oldBase+".lock", true)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Unlock()
	os.WriteFile(oldBase+".json", []byte(`["k-old"]`), 0o644)

	live, err := s.liveLeases()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for id := range live {
		got = append(got, id)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "k-old,k1,k2,sha256:a" {
		t.Errorf("live ids %v", got)
	}

	l.Release()
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Errorf("lock file left after Release: %v", err)
	}
	if err := l.Add("k3"); err == nil {
		t.Error("Add after Release succeeded")
	}
}
