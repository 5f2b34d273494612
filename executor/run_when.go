package executor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/pipe-run/pipe/executor/workspace"
	"github.com/pipe-run/pipe/pipeline"
)

// Trigger is what a step's `when` is matched against.
type Trigger struct {
	Branch  string
	Event   string   // pipeline.EventPush, EventPullRequest, EventTag, EventManual, EventSchedule
	Changed []string // paths changed since the base; nil: unknown (every path counts as changed)
	// LookupEnv reads the environment pipe runs in (when: env:); nil is os.LookupEnv.
	LookupEnv func(string) (string, bool)
	Base      string // the base the changed paths were computed against, for messages
}

func (t Trigger) lookupEnv() func(string) (string, bool) {
	if t.LookupEnv == nil {
		return os.LookupEnv
	}
	return t.LookupEnv
}

func (t Trigger) changedNote() string {
	if t.Changed == nil {
		return ""
	}
	return fmt.Sprintf(", %d path(s) changed since %s", len(t.Changed), t.Base)
}

// DetectTrigger works out the branch, the event and the changed paths of a
// run in repo, from the CI host's variables when there are some, else from git:
//
//   - branch: GITHUB_HEAD_REF (a pull request's branch), GITHUB_REF_NAME,
//     CI_COMMIT_REF_NAME (GitLab), BUILDKITE_BRANCH, else
//     `git rev-parse --abbrev-ref HEAD` ("" outside git);
//   - event: PIPE_EVENT; else GitHub's GITHUB_EVENT_NAME (push, pull_request,
//     schedule; workflow_dispatch is manual; a tag ref is tag) or GitLab's
//     CI_PIPELINE_SOURCE (merge_request_event is pull_request, web/api/trigger
//     are manual; CI_COMMIT_TAG makes it tag); else, on a developer's machine,
//     "manual" — so `when: {event: push}` steps do not run locally unless
//     PIPE_EVENT=push says so;
//   - changed paths: `git diff --name-only <base>` plus untracked files, the
//     base being since (the --since flag), else the pull request's target
//     (origin/$GITHUB_BASE_REF, $CI_MERGE_REQUEST_DIFF_BASE_SHA); with no
//     base, nil: every path counts as changed, so `when: paths` holds.
//
// getenv is os.Getenv in pipe, a map in tests.
func DetectTrigger(ctx context.Context, repo, since string, getenv func(string) string) (Trigger, error) {
	t := Trigger{
		Branch: firstNonEmpty(getenv("GITHUB_HEAD_REF"), getenv("GITHUB_REF_NAME"), getenv("CI_COMMIT_REF_NAME"), getenv("BUILDKITE_BRANCH")),
		Event:  detectEvent(getenv),
	}
	if t.Branch == "" {
		var ok bool
		if t.Branch, ok = workspace.HeadBranch(repo); !ok { // reads .git/HEAD: no git process
			t.Branch = gitOutput(ctx, repo, "rev-parse", "--abbrev-ref", "HEAD")
		}
	}
	t.Base = since
	if t.Base == "" && getenv("GITHUB_BASE_REF") != "" {
		t.Base = "origin/" + getenv("GITHUB_BASE_REF")
	}
	if t.Base == "" {
		t.Base = getenv("CI_MERGE_REQUEST_DIFF_BASE_SHA")
	}
	if t.Base == "" {
		return t, nil
	}
	changed, err := changedPaths(ctx, repo, t.Base)
	if err != nil {
		return t, err
	}
	t.Changed = changed
	return t, nil
}

// detectEvent maps the CI host's event to pipe's.
func detectEvent(getenv func(string) string) string {
	if e := getenv("PIPE_EVENT"); e != "" {
		return e
	}
	if e := getenv("GITHUB_EVENT_NAME"); e != "" {
		switch {
		case getenv("GITHUB_REF_TYPE") == "tag":
			return pipeline.EventTag
		case e == "pull_request" || e == "pull_request_target":
			return pipeline.EventPullRequest
		case e == "workflow_dispatch" || e == "repository_dispatch":
			return pipeline.EventManual
		}
		return e
	}
	if e := getenv("CI_PIPELINE_SOURCE"); e != "" {
		switch {
		case getenv("CI_COMMIT_TAG") != "":
			return pipeline.EventTag
		case e == "merge_request_event" || e == "external_pull_request_event":
			return pipeline.EventPullRequest
		case e == "web" || e == "api" || e == "trigger" || e == "chat":
			return pipeline.EventManual
		}
		return e
	}
	return pipeline.EventManual
}

// changedPaths lists the paths that differ from base: committed, staged,
// unstaged and untracked.
func changedPaths(ctx context.Context, repo, base string) ([]string, error) {
	out, err := gitCmd(ctx, repo, "diff", "--name-only", "--no-renames", base, "--")
	if err != nil {
		return nil, fmt.Errorf("changed paths since %s: %w (is %s a commit of the repository? fetch it, or pass --since)", base, err, base)
	}
	untracked, _ := gitCmd(ctx, repo, "ls-files", "--others", "--exclude-standard")
	changed := []string{}
	for _, l := range strings.Split(out+"\n"+untracked, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			changed = append(changed, l)
		}
	}
	return changed, nil
}

func gitOutput(ctx context.Context, repo string, args ...string) string {
	out, err := gitCmd(ctx, repo, args...)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

func gitCmd(ctx context.Context, repo string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", repo}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return "", fmt.Errorf("git %s: %s", strings.Join(args, " "), strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("git %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}
