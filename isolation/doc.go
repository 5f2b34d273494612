// Package isolation runs processes in fresh hermetic Linux containers that pipe
// creates itself: new mount, pid, uts, ipc, net and cgroup namespaces, an overlay
// root filesystem entered with pivot_root, a minimal /dev, masked /proc, a
// read-only /sys, dropped capabilities, no_new_privs, a seccomp filter, rlimits
// and a cgroup (v1 or v2) per container, and a small init as PID 1. That init
// is pipe's own binary re-executed (MaybeInit), or, given Options.Init, a
// binary of its own whose main is Init (cmd/pipe-init), which starts without
// pipe's package inits; either runs from a handle no process can write
// through (CVE-2019-5736).
//
// It owns the container's whole life, from Spec to Result, and cleans up after
// itself (and after a pipe process that was killed). It never pulls images,
// knows nothing of pipelines or caches, and imports nothing else of pipe's.
package isolation
