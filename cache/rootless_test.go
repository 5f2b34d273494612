package cache

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestOpenRootlessRecordsIDMap(t *testing.T) {
	root := t.TempDir()
	single := Rootless{UIDMap: "0:1000:1", GIDMap: "0:1000:1", Single: true}
	if _, err := OpenRootless(root, single); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(root)
	if st.Mode().Perm() != 0o700 {
		t.Errorf("store mode %v, want 0700 (subuid-owned setuid files must not be reachable)", st.Mode().Perm())
	}
	// Gaining subordinate ids keeps every recorded id mapped: accepted.
	ranges := Rootless{UIDMap: "0:1000:1 1:100000:65536", GIDMap: "0:1000:1 1:100000:65536"}
	if _, err := OpenRootless(root, ranges); err != nil {
		t.Fatalf("single -> ranges: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(root, idmapFile))
	if string(b) != "uid 0:1000:1 1:100000:65536\ngid 0:1000:1 1:100000:65536\n" {
		t.Errorf("recorded %q", b)
	}
	// A moved range leaves files owned by ids that no longer map: refused.
	moved := Rootless{UIDMap: "0:1000:1 1:200000:65536", GIDMap: "0:1000:1 1:200000:65536"}
	_, err := OpenRootless(root, moved)
	var ie *IDMapError
	if !errors.As(err, &ie) {
		t.Fatalf("moved range: %v, want an IDMapError", err)
	}
	if _, err := OpenRootless(root, single); !errors.As(err, &ie) {
		t.Fatalf("ranges -> single: %v, want an IDMapError", err)
	}
}

func TestExtractOptsByMode(t *testing.T) {
	s := &Store{rootless: &Rootless{}}
	if o := s.extractOpts("i", "l"); !o.Root || !o.UserNS || o.opaqueXattr() != userOpaque {
		t.Errorf("ranges: %+v", o)
	}
	s.rootless.Single = true
	if o := s.extractOpts("i", "l"); o.Root || o.opaqueXattr() != userOpaque {
		t.Errorf("single: %+v", o)
	}
}

func TestUserRootIgnoresEUID(t *testing.T) {
	t.Setenv("PIPE_HOME", "")
	t.Setenv("XDG_DATA_HOME", "/x/data")
	if got := UserRoot(1000); got != "/x/data/pipe" {
		t.Errorf("UserRoot = %q", got)
	}
}
