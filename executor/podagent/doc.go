// Package podagent is the program that runs inside a step's pod when pipe
// runs a step on Kubernetes, as hidden subcommands of pipe's own static
// binary (`pipe pod-agent init|run|push`). Its three parts follow the pod
// contract of package kube:
//
//   - Init (the pipe-init init container) copies the binary to the pod's
//     shared /.pipe, fetches the workspace layers from the cache registry,
//     checks every digest, applies them onto /workspace and indexes it, and
//     does the same for each cache volume at /.pipe-volumes/<i>;
//   - Run (the step container's entrypoint) runs the step's argv as PID 1's
//     child, then reports: /.pipe/done for the push sidecar, then the exit
//     code, the pushed diff and whether the OOM killer struck (its cgroup's
//     count) as the container's termination message;
//   - Push (the pipe-push native sidecar) waits for the step, writes what it
//     changed under /workspace, and in each cache volume, as layers, pushes
//     them to the registry and tells Run through /.pipe/pushed.json.
//
// Image builds the one-layer image that carries the binary into the pod.
//
// The package imports nothing of pipe's but cache (the layer format both
// sides share). It never prints but to the writers it is given, and never
// panics on bad input: every failure is an error saying where and what.
package podagent
