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
//
// Pods (pod*.go, step_pod.go): with Options.Pods, a step that misses the
// cache runs as a pod of a cluster (PodRuntime; KubeRuntime adapts it onto
// package kube) and everything else of its life stays as above: its
// workspace lowers travel to the pod as layer blobs of the cache
// repository, and what it wrote comes back as one, extracted into the
// upper dir a local container would have left.
package executor

// Where the time of `pipe run --no-cache` of one `true` step goes (2 cores,
// kernel 6.18, cgroup v1; one of the faster runs, from timestamps in the
// process and sched events; the machine was shared, so take the shape, not
// the digits):
//
//	 0   - 2   ms  exec, the Go runtime and package inits (half of it page faults of the binary)
//	 2   - 2.5     flags, parse and validate the file, open the store
//	 2.5 - 6.5     prepare: store lease, run log, image lookup, and the workspace scan, whose
//	               `git ls-files` is a process of its own (1.5-2 ms)
//	 6.5 - 8       the step key, the snapshot, the staging dirs of its workspace overlay
//	 8   - 11      the container: scratch dirs, limits into the cgroup, init's config; init
//	               mounts the root (~1 ms), drops its privileges (~0.2 ms) and forks the step
//	11   - 12      the step itself (sh -e -c true)
//	12   - 14      init ends and is reaped; Destroy (cgroup rmdirs, scratch) ~0.5 ms
//	14   - 17      the run's end: lease, run log, staging removals; the runtime's Close; exit
//
// In the background from ~2 ms, overlapping prepare, the runtime opens
// (LazyRuntime.Prefetch): seccomp compiled, leftovers of dead pipes
// removed, network namespaces made ahead, and one container init started
// ahead (isolation.Options.Prestart). That init is what took the most of a
// start: its clone and exec (~3 ms) and, on cgroup v1, its move into the
// cgroups, which waits for an RCU grace period (8-10 ms here) when no
// cgroup.procs was written in the last few ms. Before it, the start took
// 10-19 ms, and the runtime first copied the 10 MB binary into a sealed
// memfd (3-7 ms of CPU), now reached through a read-only overlay instead.
// In a chain each step's init starts while the step before it runs; each
// step tells the runtime how many may still come (expecter), so the last
// one leaves no init to start in vain.
