// Package job runs jobs: long-lived containers for CI runners that call pipe once per
// stage of a job (GitLab's Custom executor, GitHub's container hooks): one
// process creates the job, later processes run scripts in it, a last one
// destroys it. None of those processes lives as long as the job, so a job
// has a keeper: a pipe process of its own (pipe re-executed as
// KeeperArg0, in a session of its own, so the runner's signals to the
// creating process's group never reach it) that owns the containers, their
// services and a store lease, and serves the later processes over a unix
// socket in the job's state dir. The containers are children of the
// keeper, as a step's are of pipe run: when the keeper dies (killed), they
// die with it, and Destroy removes what is left.
//
// The state dir, <store>/jobs/<name>/:
//
//	spec.json    the job as the keeper runs it (images resolved to layers)
//	keeper.json  the keeper's pid and start time, written once it serves
//	keeper.sock  the keeper's socket (SOCK_SEQPACKET, JSON plus fds)
//	keeper.log   the keeper's own messages; svc-<name>.log a service's output
//	<container>/ the root upper dir of a container with KeepRoot
//
// Drivers may put their own files there (a runner's builds dir): they go
// with the job.
package job
