// Package report holds the output sinks of a run: what people and CI hosts
// read of the executor's event stream. NewTerminalSink prints a run for a
// terminal (colours, a live status line, a summary table) or, on a CI host
// (DetectCI), plain grouped logs with the host's markers (GitHub's
// ::group:: and ::error::, GitLab's collapsible sections); NewJUnitSink
// writes a JUnit XML report when the run ends.
//
// Every sink consumes runlog.Event and nothing else: it never starts a
// step, never sees a secret (the executor masks events before any sink gets
// them) and never chooses an exit code. The JSON event stream stays with
// the event schema in executor (executor.NewJSONSink).
package report
