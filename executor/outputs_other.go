//go:build !linux

package executor

import "io/fs"

// isWhiteout reports false: overlay layers exist only on Linux.
func isWhiteout(fs.FileInfo) bool { return false }

// isOpaqueDir reports false: overlay layers exist only on Linux.
func isOpaqueDir(string) bool { return false }

// clearOpaque does nothing: overlay layers exist only on Linux.
func clearOpaque(string) error { return nil }
