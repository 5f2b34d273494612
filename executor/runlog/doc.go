// Package runlog holds what a run says and keeps of itself: the Events of
// a run and the Sinks they go to (JSON lines, a tee, a masking sink), the
// Masker that takes secrets out of every line before any sink sees it, a
// step's StepLog (lines cut at MaxLineBytes, control sequences made plain,
// a flood summarised, a tail kept for the failure report) and the run's
// Log on disk (runsDir/<runID>/<step>.log and run.json, the last
// DefaultKeepRuns runs, read back by List and Read for `pipe logs`).
//
// The event stream is a published format: EventSchema names its version and
// testdata/event.schema.json describes it; a change to it is a change to
// that schema. The package knows nothing of pipelines, containers or the
// cache: the executor feeds it, and executor/report prints from its Events.
// It never writes to a terminal by itself.
package runlog
