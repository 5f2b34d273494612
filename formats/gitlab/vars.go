package gitlab

import (
	"strings"

	"github.com/pipe-run/pipe/formats"
	"github.com/pipe-run/pipe/pipeline"
)

// ProjectDir is CI_PROJECT_DIR: the workspace, where every job starts.
const ProjectDir = pipeline.Workspace

// DefaultBranch is CI_DEFAULT_BRANCH when the environment does not set it.
const DefaultBranch = "main"

// vars is an ordered set of variables: later sets replace earlier values
// and keep their place.
type vars struct {
	names []string
	m     map[string]string
}

func newVars() *vars { return &vars{m: map[string]string{}} }

func (v *vars) set(name, value string) {
	if _, ok := v.m[name]; !ok {
		v.names = append(v.names, name)
	}
	v.m[name] = value
}

func (v *vars) get(name string) (string, bool) {
	s, ok := v.m[name]
	return s, ok
}

func (v *vars) clone() *vars {
	c := &vars{names: append([]string(nil), v.names...), m: make(map[string]string, len(v.m))}
	for k, s := range v.m {
		c.m[k] = s
	}
	return c
}

// predefined returns GitLab's predefined variables for the local git state
// (the variables scripts commonly read). job may be nil.
func predefined(ctx formats.Context, job *jobInfo) *vars {
	v := newVars()
	v.set("CI", "true")
	v.set("GITLAB_CI", "true")
	v.set("CI_SERVER", "yes")
	v.set("CI_PROJECT_DIR", ProjectDir)
	v.set("CI_BUILDS_DIR", "/")
	v.set("CI_PROJECT_NAME", ctx.ProjectName)
	v.set("CI_PROJECT_PATH", ctx.ProjectName)
	v.set("CI_PROJECT_PATH_SLUG", slug(ctx.ProjectName))
	v.set("CI_DEFAULT_BRANCH", envOr(ctx, "CI_DEFAULT_BRANCH", DefaultBranch))
	sha := ctx.SHA
	v.set("CI_COMMIT_SHA", sha)
	v.set("CI_COMMIT_SHORT_SHA", sha[:min(8, len(sha))])
	before := ctx.BeforeSHA
	if before == "" {
		before = strings.Repeat("0", 40)
	}
	v.set("CI_COMMIT_BEFORE_SHA", before)
	ref := ctx.Branch
	if ctx.Tag != "" {
		ref = ctx.Tag
		v.set("CI_COMMIT_TAG", ctx.Tag)
	} else if ctx.Branch != "" {
		v.set("CI_COMMIT_BRANCH", ctx.Branch)
	}
	v.set("CI_COMMIT_REF_NAME", ref)
	v.set("CI_COMMIT_REF_SLUG", slug(ref))
	v.set("CI_PIPELINE_SOURCE", pipelineSource(ctx.Event))
	if ctx.Event == pipeline.EventPullRequest && ctx.Branch != "" {
		v.set("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", ctx.Branch)
	}
	if job != nil {
		v.set("CI_JOB_NAME", job.name)
		v.set("CI_JOB_NAME_SLUG", slug(job.name))
		v.set("CI_JOB_STAGE", job.stage)
	}
	return v
}

func envOr(ctx formats.Context, name, def string) string {
	if ctx.Env != nil {
		if v, ok := ctx.Env(name); ok && v != "" {
			return v
		}
	}
	return def
}

// pipelineSource maps pipe's event to CI_PIPELINE_SOURCE: a run on a
// developer's machine is "web" (started by hand), a pull request a
// "merge_request_event", a tag a "push".
func pipelineSource(event string) string {
	switch event {
	case pipeline.EventPush, pipeline.EventTag:
		return "push"
	case pipeline.EventPullRequest:
		return "merge_request_event"
	case pipeline.EventSchedule:
		return "schedule"
	case "":
		return "web"
	}
	if event == pipeline.EventManual {
		return "web"
	}
	return event
}

// slug is GitLab's CI_COMMIT_REF_SLUG: lower case, every character but
// a-z and 0-9 replaced by -, at most 63 bytes, no - at either end.
func slug(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			b[i] = '-'
		}
	}
	out := string(b)
	if len(out) > 63 {
		out = out[:63]
	}
	return strings.Trim(out, "-")
}

// expandVars expands $NAME and ${NAME} in s as GitLab expands variables in
// variables, images and services: unknown names become empty, $$ is a $.
func expandVars(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s) && b.Len() <= maxValue; i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch n := s[i+1]; {
		case n == '$':
			b.WriteByte('$')
			i++
		case n == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 || !pipeline.IsEnvName(s[i+2:i+2+end]) {
				b.WriteByte(c)
				continue
			}
			v, _ := lookup(s[i+2 : i+2+end])
			b.WriteString(v)
			i += 2 + end
		case isVarChar(n) && !('0' <= n && n <= '9'):
			j := i + 1
			for j < len(s) && isVarChar(s[j]) {
				j++
			}
			v, _ := lookup(s[i+1 : j])
			b.WriteString(v)
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// escapeDollar writes s so that pipe's parse-time interpolation leaves it
// as it is.
func escapeDollar(s string) string { return strings.ReplaceAll(s, "$", "$$") }
