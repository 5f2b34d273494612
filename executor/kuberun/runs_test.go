package kuberun

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/runlog"
)

func TestRunLivenessForPrune(t *testing.T) {
	s, err := cache.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	live, err := HoldRun(s, runlog.NewID(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Release(true)
	liveID := filepath.Base(live.f.Name())
	liveID = liveID[:len(liveID)-len(".lock")]
	if _, err := HoldRun(s, liveID); err == nil {
		t.Errorf("a second hold of a live run's ID succeeded")
	}
	killed, _ := HoldRun(s, runlog.NewID(time.Now()))
	killedID := filepath.Base(killed.f.Name())
	killedID = killedID[:len(killedID)-len(".lock")]
	killed.Release(false) // as a pipe that could not clean up, or died
	done, _ := HoldRun(s, runlog.NewID(time.Now()))
	doneID := filepath.Base(done.f.Name())
	doneID = doneID[:len(doneID)-len(".lock")]
	done.Release(true)

	l := NewRunLiveness(s, 24*time.Hour)
	for _, c := range []struct {
		id   string
		keep bool
	}{
		{liveID, true},
		{killedID, false},
		{doneID, true}, // no record: young, maybe another machine's
		{runlog.NewID(time.Now().Add(-48 * time.Hour)), false},
		{"not-a-pipe-run", true},
		{"../../etc", true},
	} {
		if got := l.Keep(c.id); got != c.keep {
			t.Errorf("Keep(%q) = %v, want %v", c.id, got, c.keep)
		}
	}
	l.Forget()
	if _, err := os.Stat(filepath.Join(kubeRunsDir(s), killedID+".lock")); !os.IsNotExist(err) {
		t.Errorf("the dead run's record stays after Forget: %v", err)
	}
	if _, err := os.Stat(filepath.Join(kubeRunsDir(s), liveID+".lock")); err != nil {
		t.Errorf("the live run's record went: %v", err)
	}
}
