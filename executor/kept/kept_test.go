package kept

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipe-run/pipe/cache"
)

func newStore(t *testing.T) *cache.Store {
	t.Helper()
	s, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// publish stages a kept dir with one file and publishes it.
func publish(t *testing.T, s *cache.Store, step string, created time.Time) string {
	t.Helper()
	stage, err := s.NewStaging("kept")
	if err != nil {
		t.Fatal(err)
	}
	defer s.RemoveStaging(stage)
	if err := os.MkdirAll(filepath.Join(stage, "ws"), 0o700); err != nil {
		t.Fatal(err)
	}
	rec := &Record{Schema: Schema, RunID: "r-" + step, Step: step, Created: created}
	dir, err := Publish(s, stage, "r-"+step, rec)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// The newest Max failures stay, newest first; Last finds one by step and
// says which was kept when the step asked for has none.
func TestPublishKeepsTheLastMax(t *testing.T) {
	s := newStore(t)
	if _, err := Last(s, ""); !errors.Is(err, ErrNone) {
		t.Fatalf("empty store: %v, want ErrNone", err)
	}
	t0 := time.Now().UTC()
	for i, step := range []string{"a", "b", "c", "d"} {
		publish(t, s, step, t0.Add(time.Duration(i)*time.Second))
	}
	recs, err := List(s)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, r := range recs {
		steps = append(steps, r.Step)
	}
	if strings.Join(steps, ",") != "d,c,b" {
		t.Errorf("kept %v, want d,c,b (Max %d, newest first)", steps, Max)
	}
	if _, err := os.Stat(filepath.Join(Root(s), "r-a")); !os.IsNotExist(err) {
		t.Errorf("the oldest kept dir is still there: %v", err)
	}
	last, err := Last(s, "c")
	if err != nil || last.Step != "c" || last.Path() != filepath.Join(Root(s), "r-c") {
		t.Fatalf("Last(c) = %+v, %v", last, err)
	}
	if _, err := os.Stat(filepath.Join(last.Path(), "ws")); err != nil {
		t.Errorf("the staged dir was not published whole: %v", err)
	}
	if _, err := Last(s, "a"); !errors.Is(err, ErrNone) || !strings.Contains(err.Error(), "the last kept is of step d") {
		t.Errorf("Last(a) = %v", err)
	}
}

// A dir without record.json (a keep cut short) or with another schema is
// not a kept failure.
func TestListSkipsIncompleteAndForeign(t *testing.T) {
	s := newStore(t)
	good := publish(t, s, "ok", time.Now().UTC())
	half := filepath.Join(Root(s), "r-half")
	if err := os.MkdirAll(filepath.Join(half, "root"), 0o700); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(Root(s), "r-foreign")
	os.MkdirAll(foreign, 0o700)
	if err := os.WriteFile(filepath.Join(foreign, "record.json"), []byte(`{"schema": "pipe.kept/v0", "step": "x"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	recs, err := List(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Path() != good {
		t.Errorf("List = %+v, want only %s", recs, good)
	}
}

// A retry of the same step in the same run replaces its kept dir.
func TestPublishReplacesSameName(t *testing.T) {
	s := newStore(t)
	t0 := time.Now().UTC()
	publish(t, s, "a", t0)
	publish(t, s, "a", t0.Add(time.Second))
	recs, _ := List(s)
	if len(recs) != 1 || !recs[0].Created.Equal(t0.Add(time.Second)) {
		t.Errorf("after a retry: %+v", recs)
	}
}
