package isolation

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestUserNSEncodeRoundTrip(t *testing.T) {
	for _, u := range []*UserNS{
		{UID: 1000, GID: 1000},
		{UID: 1001, GID: 50, SubUIDs: []IDRange{{100000, 65536}}, SubGIDs: []IDRange{{100000, 65536}}},
		{UID: 7, GID: 7, SubUIDs: []IDRange{{200000, 10}, {300000, 5}}, SubGIDs: []IDRange{{400000, 15}}},
	} {
		got, err := decodeUserNS(u.encode())
		if err != nil {
			t.Fatalf("%s: %v", u.encode(), err)
		}
		if !reflect.DeepEqual(got, u) {
			t.Errorf("%s: decoded %+v, want %+v", u.encode(), got, u)
		}
	}
	for _, bad := range []string{"", "x", "1:2,", "1:2,u1", "1:2,q1:2", "1:2,u1:0"} {
		if _, err := decodeUserNS(bad); err == nil {
			t.Errorf("decodeUserNS(%q): no error", bad)
		}
	}
}

func TestUserNSMapText(t *testing.T) {
	u := &UserNS{UID: 1000, GID: 1000, SubUIDs: []IDRange{{100000, 65536}, {300000, 10}}, SubGIDs: []IDRange{{100000, 65536}}}
	if got, want := u.UIDMapText(), "0:1000:1 1:100000:65536 65537:300000:10"; got != want {
		t.Errorf("UIDMapText = %q, want %q", got, want)
	}
	if u.Single() || u.MaxUID() != 65546 || u.MaxGID() != 65536 {
		t.Errorf("Single %v MaxUID %d MaxGID %d", u.Single(), u.MaxUID(), u.MaxGID())
	}
	if !(&UserNS{UID: 5, GID: 5}).Single() {
		t.Error("no ranges: want Single")
	}
}

func TestReadSubIDs(t *testing.T) {
	p := filepath.Join(t.TempDir(), "subuid")
	os.WriteFile(p, []byte("# comment\nalice:100000:65536\nbob:165536:65536\n1002:231072:100\n\nalice:300000:10\n"), 0o644)
	got, err := readSubIDs(p, "alice", 1000)
	if err != nil || !reflect.DeepEqual(got, []IDRange{{100000, 65536}, {300000, 10}}) {
		t.Errorf("alice: %v %v", got, err)
	}
	got, err = readSubIDs(p, "carol", 1002) // by numeric uid
	if err != nil || !reflect.DeepEqual(got, []IDRange{{231072, 100}}) {
		t.Errorf("carol by uid: %v %v", got, err)
	}
	if got, err := readSubIDs(p, "dave", 1003); err != nil || got != nil {
		t.Errorf("dave: %v %v, want none", got, err)
	}
	if got, err := readSubIDs(filepath.Join(t.TempDir(), "missing"), "alice", 1000); err != nil || got != nil {
		t.Errorf("missing file: %v %v", got, err)
	}
	// A range holding the user's own id would map it twice.
	if _, err := readSubIDs(p, "bob", 165537); err == nil || !strings.Contains(err.Error(), "your own id") {
		t.Errorf("own id in range: %v", err)
	}
	os.WriteFile(p, []byte("alice:x:65536\n"), 0o644)
	if _, err := readSubIDs(p, "alice", 1000); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("bad line: %v, want file:line", err)
	}
}
