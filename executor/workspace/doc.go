// Package workspace takes the repository snapshot every step's /workspace is
// made from: the files git would commit (tracked, and untracked but not
// ignored), minus .pipeignore, placed as a hard-link tree (never copied when
// a link or reflink can be made) and hashed with a stat-keyed cache, as git's
// index does, so that a warm scan of thousands of files costs what
// `git status` does. Workspace.Digest and Workspace.Files select files by the
// globs of a step's `inputs:`, for its cache key.
//
// It reads the repository and writes only the snapshot dir and the hash
// cache file it is given; it never starts a container and never knows about
// steps, the store or the cache. It imports nothing of pipe's.
package workspace
