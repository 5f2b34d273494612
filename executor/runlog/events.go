package runlog

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// EventSchema names the version of the JSON event stream. It is written in the
// "schema" field of every pipeline_started event.
const EventSchema = "pipe.event/v1"

// Status is how a step (or a pipeline) ended.
type Status string

// The statuses a step can end with.
const (
	StatusOK       Status = "ok"       // ran and exited 0
	StatusFailed   Status = "failed"   // ran and failed: non-zero exit, timeout, OOM, or pipe could not start it
	StatusCached   Status = "cached"   // not run: its key was in the step cache
	StatusSkipped  Status = "skipped"  // not run: its `when` did not match, or a dependency failed
	StatusCanceled Status = "canceled" // stopped or never started because the run was canceled
)

// EventType says what an Event reports.
type EventType string

// The event types, in the order a run produces them.
const (
	EventPipelineStarted  EventType = "pipeline_started"
	EventStepQueued       EventType = "step_queued"
	EventStepStarted      EventType = "step_started"
	EventStepLog          EventType = "step_log"
	EventStepFinished     EventType = "step_finished"
	EventPipelineFinished EventType = "pipeline_finished"
	// EventRemote is the shared cache's traffic (remote_op: hit, miss, push,
	// dropped, error). It may come at any time between pipeline_started and
	// pipeline_finished.
	EventRemote EventType = "remote"
)

// The values of Event.Stream.
const (
	StreamOutput = "output" // the step's own output: stdout and stderr merged in order
	StreamPipe   = "pipe"   // pipe's own messages about the step (retries, cache, warnings)
)

// Event is one thing that happened in a run. The executor sends events to
// every Sink; the JSON sink writes them one per line (the "pipe.event/v1"
// stream, documented below and in testdata/event.schema.json).
//
// JSON encoding (field: when present):
//
//	schema            string  pipeline_started: "pipe.event/v1"
//	type              string  always: pipeline_started, step_queued, step_started, step_log, step_finished, remote, pipeline_finished
//	time              string  always: RFC 3339 with nanoseconds
//	run_id            string  always when the run has an ID
//	pipeline          string  pipeline_started: the pipeline file
//	step              string  every step_* event
//	line              string  step_log: one masked, sanitised line without its newline (may be "")
//	stream            string  step_log: "output" or "pipe"; a step_log with no step is pipe's message about the whole run (stream "pipe")
//	status            string  step_finished, pipeline_finished: ok, failed, cached, skipped, canceled
//	attempt           int     step_started, step_finished, step_log: the attempt (1 first) when > 0
//	exit_code         int     step_finished: when the step ran (status ok or failed)
//	duration_ms       int     step_finished, pipeline_finished
//	cache_hit         bool    step_finished: true on a hit
//	cached_from       string  step_finished: the run that produced the cached result
//	remote            string  remote: the registry repository; step_finished: the one a cached result came from
//	remote_op         string  remote: hit, miss, push, dropped, error, volume_restore or volume_push
//	volume            string  remote: the cache volume restored, pushed or dropped
//	key               string  step_started, step_finished: the step key (hex sha256)
//	impure            bool    step_finished: the step cannot be cached (network, impure: true)
//	peak_memory_bytes int     step_finished: peak memory of the step's container
//	error             string  step_finished, pipeline_finished: what went wrong (masked)
//	reason            string  step_finished: why a step was skipped or canceled
//	steps             int     pipeline_started: the number of steps in the run
//	counts            object  pipeline_finished: steps per status, e.g. {"ok":3,"failed":1}
//
// Fields are omitted when empty, except exit_code (with status ok or failed),
// steps (on pipeline_started), line and stream (on step_log) and duration_ms
// (on step_finished and pipeline_finished). Consumers must ignore fields they
// do not know: new ones may be added within pipe.event/v1.
type Event struct {
	Type       EventType
	Time       time.Time
	RunID      string
	Pipeline   string // pipeline_started: the pipeline file (JUnit uses it as classname)
	Step       string
	Line       string // step_log: one masked, sanitised line
	Stream     string // step_log: StreamOutput or StreamPipe
	Status     Status
	Attempt    int
	ExitCode   int
	Duration   time.Duration
	CacheHit   bool
	CachedFrom string
	Remote     string // remote, step_finished: the registry repository
	RemoteOp   string // remote: RemoteHit, RemoteMiss, RemotePush, RemoteDropped, RemoteError, RemoteVolumeRestore or RemoteVolumePush
	Volume     string // remote: the cache volume
	Key        string
	Impure     bool
	PeakMemory int64
	Error      string
	Reason     string
	Steps      int            // pipeline_started: number of steps
	Counts     map[Status]int // pipeline_finished
}

// Sink receives the events of a run. The executor calls Emit from one
// goroutine at a time (it serialises calls), in the order events happen; a
// Sink must not keep the Event's map after Emit returns unless it copies it.
// Emit must not block for long: it is on the path of every log line.
type Sink interface {
	Emit(e Event)
}

// eventJSON is Event's wire form.
type eventJSON struct {
	Schema     string         `json:"schema,omitempty"`
	Type       EventType      `json:"type"`
	Time       time.Time      `json:"time"`
	RunID      string         `json:"run_id,omitempty"`
	Pipeline   string         `json:"pipeline,omitempty"`
	Step       string         `json:"step,omitempty"`
	Line       *string        `json:"line,omitempty"`
	Stream     string         `json:"stream,omitempty"`
	Status     Status         `json:"status,omitempty"`
	Attempt    int            `json:"attempt,omitempty"`
	ExitCode   *int           `json:"exit_code,omitempty"`
	DurationMS *int64         `json:"duration_ms,omitempty"`
	CacheHit   bool           `json:"cache_hit,omitempty"`
	CachedFrom string         `json:"cached_from,omitempty"`
	Remote     string         `json:"remote,omitempty"`
	RemoteOp   string         `json:"remote_op,omitempty"`
	Volume     string         `json:"volume,omitempty"`
	Key        string         `json:"key,omitempty"`
	Impure     bool           `json:"impure,omitempty"`
	PeakMemory int64          `json:"peak_memory_bytes,omitempty"`
	Error      string         `json:"error,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	Steps      *int           `json:"steps,omitempty"`
	Counts     map[Status]int `json:"counts,omitempty"`
}

// MarshalJSON encodes e in the pipe.event/v1 form documented on Event.
func (e Event) MarshalJSON() ([]byte, error) {
	j := eventJSON{
		Type: e.Type, Time: e.Time, RunID: e.RunID, Pipeline: e.Pipeline, Step: e.Step,
		Stream: e.Stream, Status: e.Status, Attempt: e.Attempt,
		CacheHit: e.CacheHit, CachedFrom: e.CachedFrom, Remote: e.Remote, RemoteOp: e.RemoteOp, Volume: e.Volume, Key: e.Key, Impure: e.Impure,
		PeakMemory: e.PeakMemory, Error: e.Error, Reason: e.Reason, Counts: e.Counts,
	}
	switch e.Type {
	case EventPipelineStarted:
		j.Schema = EventSchema
		j.Steps = &e.Steps
	case EventStepLog:
		j.Line = &e.Line
	case EventStepFinished, EventPipelineFinished:
		ms := e.Duration.Milliseconds()
		j.DurationMS = &ms
	}
	if e.Type == EventStepFinished && (e.Status == StatusOK || e.Status == StatusFailed) {
		j.ExitCode = &e.ExitCode
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes the form MarshalJSON writes.
func (e *Event) UnmarshalJSON(b []byte) error {
	var j eventJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*e = Event{
		Type: j.Type, Time: j.Time, RunID: j.RunID, Pipeline: j.Pipeline, Step: j.Step,
		Stream: j.Stream, Status: j.Status, Attempt: j.Attempt,
		CacheHit: j.CacheHit, CachedFrom: j.CachedFrom, Remote: j.Remote, RemoteOp: j.RemoteOp, Volume: j.Volume, Key: j.Key, Impure: j.Impure,
		PeakMemory: j.PeakMemory, Error: j.Error, Reason: j.Reason, Counts: j.Counts,
	}
	if j.Line != nil {
		e.Line = *j.Line
	}
	if j.ExitCode != nil {
		e.ExitCode = *j.ExitCode
	}
	if j.DurationMS != nil {
		e.Duration = time.Duration(*j.DurationMS) * time.Millisecond
	}
	if j.Steps != nil {
		e.Steps = *j.Steps
	}
	return nil
}

// jsonSink writes one JSON event per line.
type jsonSink struct {
	w   *bufio.Writer
	enc *json.Encoder
	err error
}

// NewJSONSink returns a Sink that writes every event as one line of JSON to w
// (the pipe.event/v1 stream documented on Event). Each line is flushed as it
// is written, so a consumer reading a pipe sees events as they happen. Write
// errors stop the sink; the first one is reported by its Err method.
//
// The sink writes what it is given: the executor masks secrets before events
// reach any sink (see MaskSink).
func NewJSONSink(w io.Writer) Sink {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &jsonSink{w: bw, enc: enc}
}

// Emit writes e as one line.
func (s *jsonSink) Emit(e Event) {
	if s.err != nil {
		return
	}
	if err := s.enc.Encode(e); err != nil {
		s.err = fmt.Errorf("json events: %w", err)
		return
	}
	if err := s.w.Flush(); err != nil {
		s.err = fmt.Errorf("json events: %w", err)
	}
}

// Err returns the first write error, if any.
func (s *jsonSink) Err() error { return s.err }

// teeSink sends every event to several sinks in order.
type teeSink []Sink

// NewTeeSink returns a Sink that passes every event to each of sinks, in order.
// Nil sinks are left out.
func NewTeeSink(sinks ...Sink) Sink {
	var t teeSink
	for _, s := range sinks {
		if s != nil {
			t = append(t, s)
		}
	}
	return t
}

// Emit passes e to every sink.
func (t teeSink) Emit(e Event) {
	for _, s := range t {
		s.Emit(e)
	}
}

// maskSink masks an event's free-text fields before passing it on.
type maskSink struct {
	next Sink
	m    *Masker
}

// MaskSink returns a Sink that replaces every secret value in an event's
// Line, Error and Reason with "***" (see Masker) and strips terminal control
// sequences from them, then passes the event to next. The executor puts it in
// front of all other sinks, so no sink ever sees a secret. Lines from a
// StepLog are already masked; masking twice is harmless.
func MaskSink(next Sink, m *Masker) Sink {
	return &maskSink{next: next, m: m}
}

// Emit masks e and passes it on.
func (s *maskSink) Emit(e Event) {
	s.next.Emit(s.m.MaskEvent(e))
}
