package executor

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/pipe-run/pipe/executor/runlog"
)

// benchEnv is a testEnv on isolation with PIPE_TEST_ROOT=1, else on the fake.
func benchEnv(b *testing.B) *testEnv {
	if os.Getenv("PIPE_TEST_ROOT") == "1" {
		return newRealEnv(b)
	}
	return newFakeEnv(b)
}

// truePipeline is n independent steps that run true.
func truePipeline(n int) string {
	var s strings.Builder
	s.WriteString("steps:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&s, "  s%d: {run: \"true\"}\n", i)
	}
	return s.String()
}

// benchRun runs yml b.N times; fresh makes every run miss the step cache.
func benchRun(b *testing.B, e *testEnv, yml string, fresh bool) {
	p := parse(b, yml)
	run := func(nonce string) {
		o := Options{Runtime: e.rt, Store: e.store, Sink: &eventLog{}, Repo: e.repo, Jobs: 2,
			Env: []string{"PIPE_TEST_NONCE=" + nonce}}
		sum, err := Run(context.Background(), p, o)
		if err != nil || sum.Status != runlog.StatusOK {
			b.Fatalf("run: %v %+v", err, sum)
		}
	}
	run(e.nonce) // warm: the cached variant hits from here on
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		nonce := e.nonce
		if fresh {
			nonce = fmt.Sprintf("%s-%d", e.nonce, i)
		}
		run(nonce)
	}
}

// BenchmarkPipeline20True: 20 `true` steps, --jobs 2, every step run (cold)
// or every step a cache hit (cached).
func BenchmarkPipeline20True(b *testing.B) {
	b.Run("cold", func(b *testing.B) { benchRun(b, benchEnv(b), truePipeline(20), true) })
	b.Run("cached", func(b *testing.B) { benchRun(b, benchEnv(b), truePipeline(20), false) })
}

// BenchmarkPipeline100Cached: 100 steps, all cache hits (goal: < 100 ms).
func BenchmarkPipeline100Cached(b *testing.B) {
	benchRun(b, benchEnv(b), truePipeline(100), false)
}
