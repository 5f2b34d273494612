// Package cache owns every byte pipe keeps on disk: image blobs pulled with
// go-containerregistry, image layers extracted once per uncompressed digest
// (diffID) and shared read-only by every container, step results (output
// layers by step key), named cache volumes, run logs and staging space.
//
// One Store lives under one root (DefaultRoot). Several pipe processes may use
// it at once: writes go to tmp/ and are renamed into place after they are
// verified and synced, and file locks (flock) keep two processes from pulling
// or extracting the same layer twice. An entry is therefore either absent or
// whole; a crash leaves only tmp/ entries, which the next Open removes once
// their owner is dead.
//
// A Remote is a repository of an OCI registry used as a shared cache: step
// results (PushResult, FetchResult) and cache volumes (PushVolume,
// RestoreVolume) move between stores through it, every byte checked against
// its digest before it is used; Shared reads several repositories in order
// and writes one. A failing registry costs one short timeout, then turns the
// Remote off for the rest of its life (ErrRemoteOff).
//
// The package never runs containers, never interprets pipelines and imports
// nothing else of pipe's. It never prints: progress and warnings go to the
// writers and callbacks its callers pass in.
package cache
