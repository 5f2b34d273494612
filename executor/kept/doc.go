// Package kept holds the failed steps' states that `pipe run --keep-failed`
// keeps, in the store under kept/<run>-<step>/:
//
//	root/         the root filesystem's upper dir (what the step wrote outside /workspace)
//	ws/           the workspace's upper dir (what it wrote under /workspace)
//	lower/0..N-1  the workspace's lower dirs (snapshot, then its dependencies'
//	              output layers), as hard-linked trees: no data copied, and
//	              safe from the end of the run and from pruning
//	record.json   the step's spec (Schema) and its services' (image,
//	              command, env, ready check), secrets by name only
//
// record.json is written last, so a kept dir without it is incomplete and is
// ignored. The last Max failures are kept. pipe debug --last reopens the
// newest as a container whose lower dirs are the image's layers plus root/
// (for /) and lower/*, ws/ (for /workspace): nothing is rerun, but the
// step's services are started again. Export writes a kept state as an
// image tarball that `docker load` takes.
//
// The executor keeps a step's state (and executor/job a CI job's) and
// reopens it; this package owns only the dirs and the record: it never
// starts a container, and a record never holds a secret's value.
package kept
