package isolation

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWaitReturnsWhenNothingWritesAnyMore: Wait returns as soon as init
// reports the main process, before init itself is gone, and by then every
// other process of the container is dead: what the upper dir holds no
// longer changes (the executor keeps it as the step's layer without
// waiting for Destroy). The step here leaves writers behind.
func TestWaitReturnsWhenNothingWritesAnyMore(t *testing.T) {
	r := newTestRuntime(t)
	for i := range 5 {
		base := t.TempDir()
		lower, upper, work := filepath.Join(base, "lower"), filepath.Join(base, "upper"), filepath.Join(base, "work")
		for _, d := range []string{lower, upper, work} {
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		s := busybox(t, "/bin/sh", "-c", `for w in 1 2 3; do (while :; do echo x >> /ws/f$w; done) & done; sleep 0.05; exit 0`)
		s.Mounts = []Mount{{Type: MountOverlay, Target: "/ws",
			Overlay: Overlay{Lower: []string{lower}, Upper: upper, Work: work, Volatile: true}}}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		c, err := r.Start(ctx, s)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		res, err := c.Wait()
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("round %d: %+v %v", i, res, err)
		}
		sizes := func() (n [3]int64) {
			for w := range n {
				if fi, err := os.Stat(filepath.Join(upper, "f"+string(rune('1'+w)))); err == nil {
					n[w] = fi.Size()
				}
			}
			return n
		}
		first := sizes()
		if first == [3]int64{} {
			t.Errorf("round %d: the writers wrote nothing in 50 ms", i)
		}
		time.Sleep(30 * time.Millisecond)
		if later := sizes(); later != first {
			t.Errorf("round %d: the upper dir changed after Wait returned: %v, then %v", i, first, later)
		}
		if err := c.Destroy(); err != nil {
			t.Errorf("round %d: destroy: %v", i, err)
		}
		cancel()
	}
}
