// Package executor runs a pipeline: it schedules the steps of a pipeline.Graph
// on readiness (a step starts the moment its own dependencies are done, bounded
// by a number of jobs), gives each step its life (key, cache hit or a fresh
// container from isolation, output layer committed to the cache), starts the
// services a step names, and reports everything as a stream of Events to Sinks
// (JSON lines here; the terminal, CI markers and JUnit in executor/report).
//
// Its sub-packages hold the concerns that need none of the scheduler:
// executor/workspace takes the repository snapshot and hashes it,
// executor/report prints and records what the events say.
//
// It is the only package that knows about pipeline, cache and isolation. It
// reaches containers only through its own Runtime interface, which
// *isolation.Runtime satisfies (NewIsolationRuntime) and a fake satisfies in
// tests (the fake runs the argv as host processes). It never prints to a
// terminal by itself and never chooses exit codes: cmd/pipe does.
//
// Semantics the scheduler guarantees (schedule.go):
//   - fail fast by default: when a step fails, the steps still running are
//     cancelled (status canceled) and the ones not started are skipped with the
//     reason; with KeepGoing every step that does not depend on a failure runs;
//   - a step with allow_failure that fails is reported as failed but does not
//     fail the pipeline, and the steps that need it still run (they see its
//     output layer as empty);
//   - a step skipped by its `when` condition skips the steps that need it
//     (as GitHub Actions does with `needs`), with the reason;
//   - when: {status: failure} runs a step only when a step it needs, directly
//     or not, failed (not allowed); when: {status: always} runs it once all it
//     needs has ended, whatever the outcome. Fail fast lets both run (their
//     dependencies end first); an interrupt cancels them too;
//   - allow_failure: {exit_codes: [...]} allows a failure only when the
//     step's process exited with one of them;
//   - a manual step is skipped (with the reason) unless named on the command
//     line (Options.Targets), by its name or its base name;
//   - retry: a failed step is re-run up to N more times, each in a fresh
//     container, with the attempt number in its events; a cancelled step is
//     never retried.
//
// Decisions of the step life (step*.go, services.go, volumes.go):
//   - /workspace is an overlay: the snapshot at the bottom, then the output
//     layers of every step the step needs, directly or not, in run order (a
//     step's layer above those of what it needs; between independent steps
//     the later in the file wins), and a fresh upper dir, filtered by
//     `outputs:` into the step's own output layer;
//   - the step cache: --no-cache and `cache: false` neither read nor write
//     it (the output layer then lives for the run only); a step with network
//     host is marked impure in its log and events but is still cached unless
//     it says `cache: false`, because most such steps download pinned
//     dependencies and re-running them on every run would make the cache
//     useless for the common case;
//   - services are started per step, in a network namespace of the step's
//     own, and destroyed after it (services.go);
//   - named cache volumes are locked exclusively per step (volumes.go);
//   - `when` sees the branch, the event and the changed paths of
//     DetectTrigger; locally the event is "manual".
//
// Jobs (job*.go) serve CI runners that call pipe once per stage: a job's
// containers and services outlive the process that created them, under a
// keeper process of pipe's own, and later processes exec in them through
// the job's state dir in the store (CreateJob, OpenJob, Job.Exec, Job.Run,
// DestroyJob, KeepJob). The runner drivers (runner/gitlab, runner/github)
// are thin adapters onto them.
package executor
