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
// The package never runs containers, never interprets pipelines and imports
// nothing else of pipe's. It never prints: progress and warnings go to the
// writers and callbacks its callers pass in.
package cache
