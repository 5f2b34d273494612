// Package gitlab translates a GitLab CI file (.gitlab-ci.yml) into pipe's
// pipeline model: every job that would run for the local git state becomes
// one step (a matrix step for parallel:), with the same script, image,
// services, variables, artifacts (the step's outputs) and caches, and with
// needs that follow GitLab's stages, needs: and dependencies:.
//
// Translate first reads the file as GitLab does (include: local files,
// YAML anchors and << merges, !reference, default:, extends:, hidden
// jobs), evaluates workflow:, rules: and only/except against the
// formats.Context, then builds the equivalent .pipe.yml document and parses
// it with pipeline.Parse, so that `pipe run -f .gitlab-ci.yml` and the
// output of `pipe convert` are one code path. Every error and warning is at
// its file:line:col in the original files.
//
// The package never reads the disk, the environment or the network: the
// Context gives it the repository's files and the git state. It imports
// pipeline and formats only.
package gitlab
