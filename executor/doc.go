// Package executor runs a pipeline: it schedules the steps of a pipeline.Graph
// on readiness (a step starts the moment its own dependencies are done, bounded
// by a number of jobs), gives each step its life (key, cache hit or a fresh
// container from isolation, output layer committed to the cache), starts the
// services a step names, and reports everything as a stream of
// runlog.Events to Sinks (the terminal, CI markers and JUnit in
// executor/report).
//
// Its sub-packages hold the concerns that need none of the scheduler:
// executor/workspace takes the repository snapshot and hashes it,
// executor/runlog holds the events, their masking, the step logs and the
// run logs on disk, executor/report prints and records what the events say,
// executor/kept holds the failed steps' states that `pipe debug --last`
// reopens.
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
// Jobs, for CI runners that call pipe once per stage, are package
// executor/job: it uses this package's env rules (ContainerEnv) and kept
// failures (executor/kept), never the other way round.
//
// Pods (pod*.go, step_pod.go): with Options.Pods, a step that misses the
// cache runs as a pod of a cluster (PodRuntime; package executor/kuberun adapts
// it onto package kube) and everything else of its life stays as above: its
// workspace lowers travel to the pod as layer blobs of the cache
// repository, and what it wrote comes back as one, extracted into the
// upper dir a local container would have left.
package executor

// Where the time of `pipe run --no-cache` of one `true` step went at commit
// a802702 (2 cores, kernel 6.18, cgroup v1; one of the faster runs, from
// timestamps in the process and sched events; the machine was shared, so
// take the shape, not the digits):
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
// removed, one network namespace made ahead (no more than the containers
// still to come, expecter), and one container init started ahead
// (isolation.Options.Prestart). That init is what took the most of a
// start: its clone and exec (~3 ms) and, on cgroup v1, its move into the
// cgroups, which waits for an RCU grace period (8-16 ms here, longer under
// load) when no cgroup.procs was written in the last ~20 ms. So its record
// and cgroup are made first thing as the runtime opens, and pipe moved
// itself into the cgroup it is in already, in the background: the grace
// period ran from ~2 ms while the rest went on (until 2026-12-03: now no
// init is moved at all, see the last timeline below). Before the first of
// these, the start took 10-19 ms, and the runtime first copied the 10 MB
// binary into a sealed memfd (3-7 ms of CPU), now reached through a
// read-only overlay instead. In a chain each step's init starts while the
// step before it runs; each step tells the runtime how many may still come
// (expecter), so the last one leaves no init to start in vain.
//
// Measured again on 2026-12-02 with the machine loaded (load average 3-5:
// other builds, a qemu guest, a Kubernetes cluster; medians of 25 runs from
// timestamps in pipe and in init, so only the shape holds), before the
// client-go link, in a plain directory (no git started):
//
//	 0    - 0.6  ms  flags and the file; the runtime starts opening (Prefetch) at 2
//	 2.7  - 4.7      (background) the first init's record and cgroup (mkdir in 8 v1
//	                 hierarchies, 1.8 ms); then the grace period begins
//	 2.3  - 13       store, trigger, lease, run log, images, scan, key, snapshot, step
//	                 log, staging dirs, spec: the main path, ready at 13
//	11   - 16.6      (background) init's clone and exec, then the Go runtime and every
//	                 package init of pipe's binary again, in init: 5.5 ms
//	17.9 - 21        the grace period ends; init joins its cgroups, takes its config
//	22.7 - 28.4      init: mounts (1.6 ms), drops privileges (2.8 ms: one stop-the-world
//	                 per capability dropped from the bounding set, and three more), forks
//	28.4 - 30.6      the step itself (sh -e -c true)
//	30.6 - 35.8      Destroy (cgroup rmdirs 1.4 ms), the run's end, the runtime's Close
//
// crun, in the same machine, takes 9 ms of CPU for its whole run, pipe's
// process tree 30-50 ms (perf stat), with 25-30x the context switches.
//
// Two Go processes start per one-step run (pipe, and init re-executing
// pipe's binary), each paying the runtime's start and all package inits
// before main. client-go's typed clientset made that start ~15 ms of CPU
// instead of ~4 (perf: 74 % of it in package inits, 28 % in
// k8s.io/client-go/kubernetes registering every API group). kube now talks
// to the API server through rest.RESTClient on a scheme of core/v1 and
// networking/v1 only (kube/client_rest.go), and internal/depcheck keeps the
// clientset out of the binary: `pipe version` went from 15.3 to 7.7 ms wall
// (hyperfine, loaded machine), 12.9 to 5.9 ms of CPU (perf stat), 275 to
// 177 package inits, 17,046 to 6,569 init allocations, a 47.3 to 29.1 MB
// binary. A program that links only client-go's rest and clientcmd
// packages and the core/v1 and networking/v1 types starts in 4.2 ms of CPU,
// the full clientset in 13.1 ms, an empty one in 1.75 ms.
//
// So the release build (make build) embeds a container init of its own,
// cmd/pipe-init (isolation.Options.Init): 2.7 MB, 39 package inits in
// 0.3 ms against pipe's 275 in 11-17 ms (GODEBUG=inittrace=1). Measured on
// 2026-12-02 with the machine loaded (load average 5-12), same tree with
// and without the pipeinit tag: the init's exec up to where it waits for
// its config, 24.4 -> 6.5 ms median (hyperfine, 200 runs, ~5 of it the
// bash that execs it; user+sys 24.4 -> 7.5 ms). `pipe run --no-cache` of
// one `true` step, in two sets of 80 interleaved pairs: 128.5 -> 99.2 and
// 122.0 -> 100.0 ms median wall, 58.2 -> 46.2 and 54.0 -> 40.5 ms of CPU
// for pipe and its children, the small init faster in 58 and 53 of 80
// pairs; hyperfine's back-to-back blocks of the two drifted with the load
// more than they differ (medians 79.5 -> 72.4, then 75.9 -> 88.4 ms; user
// 24.3 -> 17.2, 21.1 -> 17.6 ms). The step's peak memory (its cgroup's,
// init in it): 1-5 MiB -> 0.75-2 MiB over 6 runs each.
//
// A fully cached run needs: parse, a workspace scan, the keys, the lookups,
// the output. The scan starts no git when nothing git's answer depends on
// changed (executor/workspace listing.go), reads a binary hash cache and
// stats each file from its directory's fd; each input glob is matched once
// per run, by a prefix, suffix or token walk (no regexp); the file's format
// is told without decoding it twice. From the session's start to its end
// that run of this repo's pipeline went from 63.7M to 19.4M instructions of
// its own process (callgrind, before the client-go link), and from 5.4x to
// 2.7x `git status` in wall time (paired, interleaved rounds, loaded
// machine); the typed clientset's start put it back at 5.1x (not measured
// again since kube dropped it).
//
// The fourth round (2026-12-03). A timeline of one run (bpftrace on
// syscalls, quiet machine, with the last two changes below in and not
// the first) showed the cgroup v1 grace period as nearly half of the run:
// init was ready for its config at 7.7 ms, its move into the cgroups
// (first write at 7.1) returned at 19.6, and the whole run ended at 25.1.
// Three changes in isolation/:
//
//   - init is born in its cgroup on v1 (cgroup_thread_linux.go): the
//     thread that starts every init moves itself alone into the container's
//     cgroups ("0" to tasks, which takes no global lock since Linux 5.13:
//     0.2 ms for six hierarchies against 5-8 ms for the cgroup.procs move
//     that waits for the grace period), forks init, and moves back;
//   - that thread (launcher_linux.go) drops the container's bounding set on
//     itself once, so an init has none of its ~27 stop-the-world drops to
//     make (each one signals all of init's threads: 1-30 ms for 30 on two
//     busy cores, measured alone); an empty ambient set is not cleared;
//   - the small init is stored once per pipe binary under the state dir
//     and run through a read-only overlay (runtime_initstore_linux.go),
//     instead of a 2.8 MB memfd copy per run (6.6 % of pipe's CPU samples,
//     ~1.2 ms, and the 1 MB copy buffer that pushed the heap into a GC).
//
// The same run then, timestamps from the same tracing (ms):
//
//	 0    - 3.2  exec, the Go runtime and package inits (787 page faults for
//	             `pipe version` alone: a fault costs ~8 us on this VM, an empty
//	             Go program takes 1.8 ms of CPU and 177 faults, /bin/true 0.5)
//	 3.2  - 6    store, lease, run log, images, scan, key, snapshot (main path)
//	 4.3  - 6    (background) the first init's record and cgroup; its clone,
//	             born in its cgroup, and exec; init waits for its config at ~7.7
//	 ~8   - 10   init: mounts, pivot_root, capset, the step; init ends
//	10    - 13   stats, cgroup rmdirs, staging removals, run log, exit
//
// Side by side in one hyperfine run (60 runs each, back to back, quiet
// machine), 1-step `--no-cache` went from 17.9 +- 2.8 ms (commit 2aa4653)
// to 13.0 +- 1.0 ms; an earlier run had put 2aa4653 at 26.8 +- 2.9. What is left of
// it is CPU on two cores (pipe and its children: user 6-12 ms, system 8-19
// ms per run against crun's 3 and 8): two Go processes' starts and their
// page faults first, then package inits (client-go and apimachinery ~2 ms
// of `pipe version`'s ~4 ms; hash/crc32's Castagnoli tables for
// klauspost/compress 0.2-0.9 ms), the overlays and staging dirs on ext4,
// and the teardown.
//
// The fifth round (2026-12-03) took the Kubernetes libraries out of the
// binary: kube speaks the API through its own types (the few kube sends
// and reads, with upstream's names and JSON), its own REST client on
// net/http and its own kubeconfig loader (kube/internal/...), and
// internal/depcheck fails the build's tests if any k8s.io package comes
// back. The binary went from 23.4 to 16.1 MB, 177 to 123 package inits,
// 837 to 288 KB allocated by them; `pipe version` from 6.6 to 4.4 ms of
// CPU (perf stat, 50 runs) and 780 to 528 page faults. Beside it, a warm
// run allocates less fresh memory (the hash cache and git's listing are
// read without copies or slice growth, mountinfo without a 64 KiB scanner
// buffer, package-level regexps compile on first use), and the workspace
// scan runs while the store's lease, the run log and the images are taken.
// Page faults of a fully cached run of this repo's pipeline: 1,143 to 830;
// of a one-step `--no-cache` run's process tree: 1,467 to 1,214.
//
// What is left, measured with bpftrace on the 100-parallel run (--jobs 2):
// the launcher thread waits ~0.6 ms per init for its clone and exec (a
// vfork), init as long for the step's; init's umount and its exit wait for
// expedited RCU grace periods (~0.5 ms a step); on this machine's ext4,
// which has no journal and is mounted with discard, every freed block of a
// removed staging dir is a synchronous discard (~1.4 ms a step, in the
// background). None of it accounts for the quarter of the two cores left
// idle; that is still to find.
//
// The sixth round (2026-12-03). Most of what a step costs beyond crun here
// is on this machine's disk: ext4 with no journal avoids reusing an inode
// freed in the last minutes, so every new file or dir scans past the ones
// deleted recently (find_inode_bit, recently_deleted), and a CI executor
// deletes and creates a few per step. In the 100-parallel run, bpftrace
// put 25 % of all CPU samples there: 14 % in init's overlay mounts
// (overlayfs probes its work dir with temp files, work/work and the
// volatile marker dirs), 9 % in pipe's staging mkdirs, 2.5 % in the step
// log files; the same run with PIPE_HOME on a journaled ext4 (a loop
// device) took 13 % less time. So pipe makes fewer files:
//
//   - a run writes run.json once when it ends within runlog.SummaryInterval
//     (not also as it starts), and its store lease is one flocked file
//     that Add appends id lines to (not a new JSON file per Add);
//   - an overlay's work dir is one tmp/ entry (NewScratch), and a step's
//     log file is made at its first write: a step that prints nothing
//     leaves none;
//   - old run logs are renamed out of the list and removed in the
//     background; no run waits for that any more (the next one finishes
//     what an exiting one left).
//
// And the end of a step is off its path: init kills and reaps the rest of
// the container before it reports the main process (Exited with Alone),
// so Wait returns without waiting for init's own end (its namespaces and
// mounts going down: ~1 ms of RCU waits); the executor destroys the
// container in the background, and a step that wrote nothing to
// /workspace is done as soon as its main process is (a step that wrote
// waits for Destroy, so that no overlay still holds its upper dir when
// others mount it). The run waits for every Destroy before it ends and
// reports the containers it could not destroy. The first container init
// starts before the seccomp program is compiled and dead pipes' leftovers
// are cleaned up, pipe's runtime no longer checks Available twice, and a
// digest hashes its files' lines in runs.
