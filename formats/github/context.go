package github

import (
	"runtime"

	"github.com/pipe-run/pipe/formats"
	"github.com/pipe-run/pipe/pipeline"
)

// The GitHub context and the runner's predefined variables, from the local
// git state in formats.Context.

const runnerTemp = "/tmp/runner"

// eventName is GitHub's name of pipe's event.
func eventName(ev string) string {
	switch ev {
	case pipeline.EventPush, pipeline.EventTag, "":
		return "push"
	case pipeline.EventManual:
		return "workflow_dispatch"
	}
	return ev // pull_request, schedule
}

func gitRef(ctx formats.Context) (ref, name, kind string) {
	switch {
	case ctx.Tag != "":
		return "refs/tags/" + ctx.Tag, ctx.Tag, "tag"
	case ctx.Branch != "":
		return "refs/heads/" + ctx.Branch, ctx.Branch, "branch"
	}
	return "", "", ""
}

func runnerArch() string {
	switch runtime.GOARCH {
	case "arm64":
		return "ARM64"
	case "arm":
		return "ARM"
	case "386":
		return "X86"
	}
	return "X64"
}

func repository(ctx formats.Context) string {
	name := ctx.ProjectName
	if name == "" {
		name = "repository"
	}
	return "local/" + name
}

// predefinedEnv is what GitHub's runner sets for every step (GITHUB_JOB is
// the job's own).
func predefinedEnv(ctx formats.Context, workflow string) []kv {
	ref, name, kind := gitRef(ctx)
	head, base := "", ""
	if ctx.Event == pipeline.EventPullRequest {
		head = ctx.Branch
	}
	return []kv{
		{"CI", "true"},
		{"GITHUB_ACTIONS", "true"},
		{"GITHUB_WORKSPACE", pipeline.Workspace},
		{"GITHUB_WORKFLOW", workflow},
		{"GITHUB_EVENT_NAME", eventName(ctx.Event)},
		{"GITHUB_SHA", ctx.SHA},
		{"GITHUB_REF", ref},
		{"GITHUB_REF_NAME", name},
		{"GITHUB_REF_TYPE", kind},
		{"GITHUB_HEAD_REF", head},
		{"GITHUB_BASE_REF", base},
		{"GITHUB_REPOSITORY", repository(ctx)},
		{"GITHUB_REPOSITORY_OWNER", "local"},
		{"GITHUB_ACTOR", "pipe"},
		{"GITHUB_RUN_ID", "1"},
		{"GITHUB_RUN_NUMBER", "1"},
		{"GITHUB_RUN_ATTEMPT", "1"},
		{"RUNNER_OS", "Linux"},
		{"RUNNER_ARCH", runnerArch()},
		{"RUNNER_NAME", "pipe"},
		{"RUNNER_TEMP", runnerTemp},
		{"RUNNER_TOOL_CACHE", "/opt/hostedtoolcache"},
	}
}

// githubContext is the github context of expressions.
func githubContext(ctx formats.Context, workflow, job string) map[string]any {
	ref, name, kind := gitRef(ctx)
	m := map[string]any{
		"event_name":       eventName(ctx.Event),
		"sha":              ctx.SHA,
		"ref":              ref,
		"ref_name":         name,
		"ref_type":         kind,
		"head_ref":         "",
		"base_ref":         "",
		"repository":       repository(ctx),
		"repository_owner": "local",
		"workspace":        pipeline.Workspace,
		"workflow":         workflow,
		"job":              job,
		"actor":            "pipe",
		"triggering_actor": "pipe",
		"run_id":           "1",
		"run_number":       "1",
		"run_attempt":      "1",
		"action_path":      "",
		"event":            map[string]any{"before": ctx.BeforeSHA, "after": ctx.SHA, "ref": ref},
	}
	if ctx.Event == pipeline.EventPullRequest {
		m["head_ref"] = ctx.Branch
	}
	return m
}

func runnerContext() map[string]any {
	return map[string]any{"os": "Linux", "arch": runnerArch(), "name": "pipe", "temp": runnerTemp,
		"tool_cache": "/opt/hostedtoolcache", "environment": "self-hosted", "debug": ""}
}
