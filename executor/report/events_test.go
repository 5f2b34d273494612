package report

import (
	"strings"
	"time"

	"github.com/pipe-run/pipe/executor/runlog"
)

// sampleEvents is a run of every kind of event, as executor's own tests have it.
func sampleEvents() []runlog.Event {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	run := "20250301T120000Z-abcd"
	key := func(c string) string { return strings.Repeat(c, 64) }
	log := func(ms int, step, line string) runlog.Event {
		return runlog.Event{Type: runlog.EventStepLog, Time: at(ms), RunID: run, Step: step, Line: line, Stream: runlog.StreamOutput, Attempt: 1}
	}
	return []runlog.Event{
		{Type: runlog.EventPipelineStarted, Time: at(0), RunID: run, Pipeline: ".pipe.yml", Steps: 5},
		{Type: runlog.EventStepQueued, Time: at(1), RunID: run, Step: "build"},
		{Type: runlog.EventStepQueued, Time: at(1), RunID: run, Step: "lint"},
		{Type: runlog.EventStepQueued, Time: at(1), RunID: run, Step: "test"},
		{Type: runlog.EventStepQueued, Time: at(1), RunID: run, Step: "deploy"},
		{Type: runlog.EventStepQueued, Time: at(1), RunID: run, Step: "notify"},
		{Type: runlog.EventStepStarted, Time: at(10), RunID: run, Step: "build", Attempt: 1, Key: key("a")},
		{Type: runlog.EventStepFinished, Time: at(12), RunID: run, Step: "lint", Status: runlog.StatusCached, Duration: 2 * time.Millisecond, CacheHit: true, CachedFrom: "20250228T090000Z-ffff", Key: key("b")},
		log(100, "build", "compiling with token "+testSecret),
		log(200, "build", "\x1b[32mgreen\x1b[0m and \x1b]0;title\x07"),
		log(300, "build", "::set-output name=x::forged"),
		{Type: runlog.EventStepStarted, Time: at(310), RunID: run, Step: "test", Attempt: 1, Key: key("c")},
		log(400, "test", "section_start:0:fake\r\x1b[0Kforged section"),
		{Type: runlog.EventStepFinished, Time: at(1500), RunID: run, Step: "build", Status: runlog.StatusOK, Attempt: 1, Duration: 1490 * time.Millisecond, Key: key("a"), PeakMemory: 150 << 20},
		log(1600, "test", "--- FAIL: TestX"),
		log(1601, "test", "    x_test.go:12: secret was "+testSecret),
		{Type: runlog.EventStepLog, Time: at(1650), RunID: run, Step: "test", Line: "attempt 1 failed, retrying", Stream: runlog.StreamPipe, Attempt: 1},
		{Type: runlog.EventStepFinished, Time: at(2500), RunID: run, Step: "test", Status: runlog.StatusFailed, Attempt: 2, ExitCode: 1, Duration: 2190 * time.Millisecond, Key: key("c"), PeakMemory: 40 << 20},
		{Type: runlog.EventStepFinished, Time: at(2501), RunID: run, Step: "deploy", Status: runlog.StatusSkipped, Reason: "needs test, which failed"},
		{Type: runlog.EventStepFinished, Time: at(2502), RunID: run, Step: "notify", Status: runlog.StatusCanceled, Reason: "fail-fast: test failed"},
		{Type: runlog.EventPipelineFinished, Time: at(2600), RunID: run, Status: runlog.StatusFailed, Duration: 2600 * time.Millisecond,
			Counts: map[runlog.Status]int{runlog.StatusOK: 1, runlog.StatusCached: 1, runlog.StatusFailed: 1, runlog.StatusSkipped: 1, runlog.StatusCanceled: 1}},
	}
}

// testSecret is a secret value the sinks must never print.
const testSecret = "hunter2-S3cr3t!"

// emitAll sends events through a MaskSink (as the executor does) to s.
func emitAll(s runlog.Sink, events []runlog.Event) {
	m := runlog.MaskSink(s, runlog.NewMasker([]string{testSecret}))
	for _, e := range events {
		m.Emit(e)
	}
}
