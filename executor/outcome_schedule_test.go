package executor

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pipe-run/pipe/pipeline"
)

func runOnNode(name string, on pipeline.RunOn, run func(context.Context, int) (outcome, error), deps ...string) node {
	return node{name: name, deps: deps, run: run, runOn: on}
}

// After a failure, fail fast cancels the running steps and skips the pending
// ones, but the when: status: failure|always steps still run, after all
// they need has ended.
func TestScheduleRunOnAfterFailFast(t *testing.T) {
	for _, jobs := range []int{2, 8} {
		r := newRecorder()
		started := make(chan struct{})
		nodes := []node{
			mkNode("slow", func(ctx context.Context, a int) (outcome, error) { close(started); return blockUntilCanceled(ctx, a) }),
			mkNode("bad", func(ctx context.Context, a int) (outcome, error) { <-started; return failing(ctx, a) }),
			mkNode("after-bad", r.ok("after-bad"), "bad"),
			runOnNode("on-failure", pipeline.RunOnFailure, r.ok("on-failure"), "after-bad"),
			runOnNode("always", pipeline.RunAlways, r.ok("always"), "slow", "after-bad"),
			mkNode("after-always", r.ok("after-always"), "always"),
			runOnNode("failure-elsewhere", pipeline.RunOnFailure, r.ok("failure-elsewhere"), "slow"),
			runOnNode("always-after-always", pipeline.RunAlways, r.ok("always-after-always"), "always"),
		}
		rs, err := schedule(context.Background(), nodes, scheduleOptions{Jobs: jobs})
		if err != nil {
			t.Fatal(err)
		}
		checkOutcomes(t, nodes, rs, map[string]string{
			"slow": "canceled", "bad": "failed", "after-bad": "skipped",
			"on-failure": "ok", "always": "ok", "always-after-always": "ok",
			"after-always": "skipped", "failure-elsewhere": "skipped",
		})
		if got := rs[6].Reason; got != "when: status: failure, and nothing it needs failed" {
			t.Errorf("jobs %d: failure-elsewhere reason %q", jobs, got)
		}
		if got := rs[5].Reason; !strings.Contains(got, "step bad failed") {
			t.Errorf("jobs %d: after-always reason %q, want the fail fast reason", jobs, got)
		}
		if r.starts["always-after-always"] < r.ends["always"] {
			t.Errorf("jobs %d: always-after-always started before always ended", jobs)
		}
	}
}

// A when: status: failure step is skipped when nothing it needs failed, and
// an allowed failure does not count as one.
func TestScheduleRunOnFailureNothingFailed(t *testing.T) {
	r := newRecorder()
	nodes := []node{
		mkNode("a", r.ok("a")),
		{name: "flaky", allowFailure: true, run: failing},
		runOnNode("notify", pipeline.RunOnFailure, r.ok("notify"), "a", "flaky"),
		runOnNode("cleanup", pipeline.RunAlways, r.ok("cleanup"), "notify"),
	}
	rs, err := schedule(context.Background(), nodes, scheduleOptions{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	checkOutcomes(t, nodes, rs, map[string]string{"a": "ok", "flaky": "failed", "notify": "skipped", "cleanup": "ok"})
	if !rs[1].Allowed {
		t.Errorf("flaky: failure not marked allowed")
	}
}

// A failure deep above a when: status: failure step counts: the steps in
// between were skipped.
func TestScheduleRunOnFailureIndirect(t *testing.T) {
	r := newRecorder()
	nodes := []node{
		mkNode("build", failing),
		mkNode("test", r.ok("test"), "build"),
		mkNode("package", r.ok("package"), "test"),
		runOnNode("report", pipeline.RunOnFailure, r.ok("report"), "package"),
	}
	for _, keepGoing := range []bool{false, true} {
		rs, err := schedule(context.Background(), nodes, scheduleOptions{Jobs: 1, KeepGoing: keepGoing})
		if err != nil {
			t.Fatal(err)
		}
		checkOutcomes(t, nodes, rs, map[string]string{"build": "failed", "test": "skipped", "package": "skipped", "report": "ok"})
	}
}

// failureAllowed decides after the failure: allow_failure: exit_codes.
func TestScheduleFailureAllowedByFunc(t *testing.T) {
	r := newRecorder()
	for _, allowed := range []bool{true, false} {
		nodes := []node{
			{name: "lint", run: failing, failureAllowed: func() bool { return allowed }},
			mkNode("after", r.ok("after"), "lint"),
		}
		rs, err := schedule(context.Background(), nodes, scheduleOptions{Jobs: 1})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"lint": "failed", "after": "ok"}
		if !allowed {
			want["after"] = "skipped"
		}
		checkOutcomes(t, nodes, rs, want)
		if rs[0].Allowed != allowed {
			t.Errorf("allowed %v: result says %v", allowed, rs[0].Allowed)
		}
	}
}

// An interrupt cancels the always steps too, also those that fail fast let run.
func TestScheduleInterruptCancelsAlways(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	alwaysStarted := make(chan struct{})
	nodes := []node{
		mkNode("bad", failing),
		runOnNode("cleanup", pipeline.RunAlways, func(ctx context.Context, a int) (outcome, error) {
			close(alwaysStarted)
			return blockUntilCanceled(ctx, a)
		}, "bad"),
		runOnNode("after-cleanup", pipeline.RunAlways, func(context.Context, int) (outcome, error) {
			return outcomeFailed, errors.New("must not run")
		}, "cleanup"),
	}
	go func() { <-alwaysStarted; cancel() }()
	rs, err := schedule(ctx, nodes, scheduleOptions{Jobs: 2})
	if err != nil {
		t.Fatal(err)
	}
	checkOutcomes(t, nodes, rs, map[string]string{"bad": "failed", "cleanup": "canceled", "after-cleanup": "canceled"})
}

// A run already interrupted starts nothing, always steps included.
func TestScheduleAlwaysNotAfterInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := newRecorder()
	nodes := []node{runOnNode("cleanup", pipeline.RunAlways, r.ok("cleanup"))}
	rs, err := schedule(ctx, nodes, scheduleOptions{Jobs: 1})
	if err != nil {
		t.Fatal(err)
	}
	checkOutcomes(t, nodes, rs, map[string]string{"cleanup": "canceled"})
}
