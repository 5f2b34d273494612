package isolation

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/pipe-run/pipe/internal/testimage"
)

// BenchmarkRunTrue is start-to-exit of /bin/true in a fresh container: a
// fresh overlay root, a fresh network namespace (network none), a cgroup,
// and Destroy. Compare with BenchmarkForkExecTrue (MACHINE.md's ratios).
// With PIPE_TEST_INIT=<a built cmd/pipe-init> it runs the small init
// instead of this test binary, whose package inits are few already: the
// difference pipe's own inits make shows in `pipe run`, not here.
func BenchmarkRunTrue(b *testing.B) {
	r := newTestRuntime(b)
	root := testimage.Rootfs(b)
	ctx := context.Background()
	// Absolute times drift with the machine's load (MACHINE.md); a fork+exec
	// of /bin/true between runs, outside the timer, gives the ratio too.
	var baseline time.Duration
	b.ResetTimer()
	for i := range b.N {
		s := &Spec{ID: fmt.Sprintf("bench-%d", i), Root: Overlay{Lower: []string{root}}, Process: Process{Args: []string{"/bin/true"}}}
		res, err := r.Run(ctx, s)
		if err != nil || res.ExitCode != 0 {
			b.Fatalf("run: %v, exit %d", err, res.ExitCode)
		}
		b.StopTimer()
		t0 := time.Now()
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
		baseline += time.Since(t0)
		b.StartTimer()
	}
	b.StopTimer()
	if baseline > 0 {
		b.ReportMetric(float64(b.Elapsed())/float64(baseline), "x-forkexec")
	}
}

// BenchmarkForkExecTrue is the baseline: fork+exec of /bin/true on the host.
func BenchmarkForkExecTrue(b *testing.B) {
	for range b.N {
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
	}
}
