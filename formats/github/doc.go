// Package github translates a GitHub Actions workflow into a pipeline: the
// part of a workflow that runs without GitHub.
//
// Each job (each combination of a job's strategy.matrix) becomes one pipe
// step named after the job id (test-1.22-linux for a combination), in the
// image of its container: or of its runs-on label (formats.Context.Platforms,
// else a plain Ubuntu image for GitHub's ubuntu-* labels), needing the steps
// of its needs, with its services by their keys as host names. The step runs
// the job's steps in turn in one shell that keeps the job's status, runs
// each step with GitHub's shell rules, honours $GITHUB_ENV, $GITHUB_PATH and
// $GITHUB_OUTPUT, and evaluates at run time the parts of if: conditions and
// ${{ }} expressions that are known only then (step outputs, variables set
// by earlier steps, secrets). Everything known earlier (github.*, matrix.*,
// env.*, inputs.*) is evaluated here. actions/checkout, actions/cache,
// actions/upload-artifact, actions/download-artifact and actions/setup-* are
// done natively; local composite actions (uses: ./path) are expanded; any
// other action is an error that names it. Artifacts and job outputs are
// files under .pipe-github/ in the workspace: a job's only output, which the
// jobs that need it see.
//
// The package reads nothing by itself: the repository's files (composite
// actions, hashFiles) come through formats.Context. It imports pipeline only.
package github
