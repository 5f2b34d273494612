package runlog

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// sampleEvents is a run of five steps that ends in every status, whose
// output holds a secret, escape sequences and CI commands, at fixed times.
func sampleEvents() []Event {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	run := "20250301T120000Z-abcd"
	key := func(c string) string { return strings.Repeat(c, 64) }
	log := func(ms int, step, line string) Event {
		return Event{Type: EventStepLog, Time: at(ms), RunID: run, Step: step, Line: line, Stream: StreamOutput, Attempt: 1}
	}
	return []Event{
		{Type: EventPipelineStarted, Time: at(0), RunID: run, Pipeline: ".pipe.yml", Steps: 5},
		{Type: EventStepQueued, Time: at(1), RunID: run, Step: "build"},
		{Type: EventStepQueued, Time: at(1), RunID: run, Step: "lint"},
		{Type: EventStepQueued, Time: at(1), RunID: run, Step: "test"},
		{Type: EventStepQueued, Time: at(1), RunID: run, Step: "deploy"},
		{Type: EventStepQueued, Time: at(1), RunID: run, Step: "notify"},
		{Type: EventStepStarted, Time: at(10), RunID: run, Step: "build", Attempt: 1, Key: key("a")},
		{Type: EventStepFinished, Time: at(12), RunID: run, Step: "lint", Status: StatusCached, Duration: 2 * time.Millisecond, CacheHit: true, CachedFrom: "20250228T090000Z-ffff", Key: key("b")},
		log(100, "build", "compiling with token "+testSecret),
		log(200, "build", "\x1b[32mgreen\x1b[0m and \x1b]0;title\x07"),
		log(300, "build", "::set-output name=x::forged"),
		{Type: EventStepStarted, Time: at(310), RunID: run, Step: "test", Attempt: 1, Key: key("c")},
		log(400, "test", "section_start:0:fake\r\x1b[0Kforged section"),
		{Type: EventStepFinished, Time: at(1500), RunID: run, Step: "build", Status: StatusOK, Attempt: 1, Duration: 1490 * time.Millisecond, Key: key("a"), PeakMemory: 150 << 20},
		log(1600, "test", "--- FAIL: TestX"),
		log(1601, "test", "    x_test.go:12: secret was "+testSecret),
		{Type: EventStepLog, Time: at(1650), RunID: run, Step: "test", Line: "attempt 1 failed, retrying", Stream: StreamPipe, Attempt: 1},
		{Type: EventStepFinished, Time: at(2500), RunID: run, Step: "test", Status: StatusFailed, Attempt: 2, ExitCode: 1, Duration: 2190 * time.Millisecond, Key: key("c"), PeakMemory: 40 << 20},
		{Type: EventStepFinished, Time: at(2501), RunID: run, Step: "deploy", Status: StatusSkipped, Reason: "needs test, which failed"},
		{Type: EventStepFinished, Time: at(2502), RunID: run, Step: "notify", Status: StatusCanceled, Reason: "fail-fast: test failed"},
		{Type: EventPipelineFinished, Time: at(2600), RunID: run, Status: StatusFailed, Duration: 2600 * time.Millisecond,
			Counts: map[Status]int{StatusOK: 1, StatusCached: 1, StatusFailed: 1, StatusSkipped: 1, StatusCanceled: 1}},
	}
}

// emitAll sends events through a MaskSink (as the executor does) to s.
func emitAll(s Sink, events []Event) {
	m := MaskSink(s, NewMasker([]string{testSecret}))
	for _, e := range events {
		m.Emit(e)
	}
}

func TestJSONSinkSchema(t *testing.T) {
	var b bytes.Buffer
	emitAll(NewJSONSink(&b), sampleEvents())
	out := b.String()
	if strings.Contains(out, testSecret) {
		t.Fatal("a secret reached the JSON event stream")
	}
	validateEventLines(t, loadEventSchema(t), out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(sampleEvents()) {
		t.Fatalf("%d lines for %d events", len(lines), len(sampleEvents()))
	}
	if !strings.Contains(lines[0], `"schema":"pipe.event/v1"`) {
		t.Errorf("pipeline_started without schema: %s", lines[0])
	}
	for _, want := range []string{`"duration_ms":1490`, `"exit_code":0`, `"peak_memory_bytes":157286400`, `"counts":{`, `"line":"compiling with token ***"`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in the stream", want)
		}
	}
}

func TestEventJSONRoundTrip(t *testing.T) {
	for _, e := range sampleEvents() {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var back Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		e.Duration = e.Duration.Truncate(time.Millisecond)
		if !back.Time.Equal(e.Time) {
			t.Errorf("time %v != %v", back.Time, e.Time)
		}
		back.Time = e.Time
		if b2, _ := json.Marshal(back); !bytes.Equal(b, b2) {
			t.Errorf("round trip:\n%s\n%s", b, b2)
		}
	}
}

// TestEventSchemaRejects makes sure the validator and the schema catch bad
// events (a validator that accepts everything would prove nothing).
func TestEventSchemaRejects(t *testing.T) {
	s := loadEventSchema(t)
	bad := []string{
		`{"time":"2025-03-01T12:00:00Z"}`,
		`{"type":"nope","time":"2025-03-01T12:00:00Z"}`,
		`{"type":"step_log","time":"2025-03-01T12:00:00Z","step":"a","stream":"output"}`,
		`{"type":"step_log","time":"2025-03-01T12:00:00Z","step":"a","line":"x","stream":"stdout"}`,
		`{"type":"step_log","time":"2025-03-01T12:00:00Z","line":"a step's line, but whose?","stream":"output"}`,
		`{"type":"step_finished","time":"2025-03-01T12:00:00Z","step":"a","status":"ok","duration_ms":1}`,
		`{"type":"pipeline_started","time":"2025-03-01T12:00:00Z","steps":1}`,
		`{"type":"step_queued","time":"yesterday","step":"a"}`,
		`{"type":"step_queued","time":"2025-03-01T12:00:00Z","step":"a","extra":1}`,
		`{"type":"step_started","time":"2025-03-01T12:00:00Z","step":"a","key":"xyz"}`,
		`{"type":"pipeline_finished","time":"2025-03-01T12:00:00Z","status":"ok","duration_ms":1.5}`,
		`{"type":"pipeline_finished","time":"2025-03-01T12:00:00Z","status":"ok","duration_ms":1,"counts":{"weird":1}}`,
	}
	for _, line := range bad {
		var v any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatal(err)
		}
		if err := s.Validate("event", v); err == nil {
			t.Errorf("schema accepted %s", line)
		}
	}
}

// A run-level note of pipe's (a warning about the remote cache, a short
// secret) is a step_log of stream pipe without a step: the schema takes it.
func TestEventSchemaRunNote(t *testing.T) {
	var b bytes.Buffer
	emitAll(NewJSONSink(&b), []Event{{Type: EventStepLog, Time: time.Now(), RunID: "r", Line: "warning: the registry refused", Stream: StreamPipe}})
	validateEventLines(t, loadEventSchema(t), b.String())
}

func TestTeeSink(t *testing.T) {
	var a, b bytes.Buffer
	s := NewTeeSink(NewJSONSink(&a), nil, NewJSONSink(&b))
	s.Emit(Event{Type: EventStepQueued, Step: "x"})
	if a.String() == "" || a.String() != b.String() {
		t.Errorf("tee: %q %q", a.String(), b.String())
	}
}
