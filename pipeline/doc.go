// Package pipeline owns the .pipe.yml format: it decodes a file through yaml.v3
// nodes (so every problem carries file:line:col), validates it, expands
// matrices, interpolates ${VAR} references, and builds the DAG of steps with
// its topological order, levels and target selection.
//
// A Pipeline returned without error is fully resolved: every Step has its
// image, its commands, its dependencies as expanded step names, its merged
// environment, parsed durations and sizes. The executor reads it and never
// looks at YAML.
//
// The package never runs anything, reads no environment variables and touches
// no files except the one Load is given. It imports nothing else of pipe's.
package pipeline
