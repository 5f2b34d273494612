package report

import (
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// CIHost is the CI system pipe runs under, which decides the log-group
// markers the terminal sink writes.
type CIHost string

// The CI hosts pipe knows.
const (
	CINone    CIHost = ""        // not in CI
	CIGeneric CIHost = "generic" // some CI (CI=true, Jenkins, Buildkite...): plain grouped output, no markers
	CIGitHub  CIHost = "github"  // GitHub Actions: ::group::, ::error, ::stop-commands::
	CIGitLab  CIHost = "gitlab"  // GitLab CI: section_start/section_end markers
)

// DetectCI tells which CI host the environment (read through getenv, e.g.
// os.Getenv) belongs to: GITHUB_ACTIONS=true is GitHub Actions, GITLAB_CI=true
// is GitLab CI, and CI set to anything but "", "0" or "false" — or
// JENKINS_URL, BUILDKITE=true, TF_BUILD=True — is some other CI. Otherwise it
// returns CINone.
func DetectCI(getenv func(string) string) CIHost {
	switch {
	case strings.EqualFold(getenv("GITHUB_ACTIONS"), "true"):
		return CIGitHub
	case strings.EqualFold(getenv("GITLAB_CI"), "true"):
		return CIGitLab
	}
	ci := strings.ToLower(getenv("CI"))
	if (ci != "" && ci != "0" && ci != "false") || getenv("JENKINS_URL") != "" ||
		strings.EqualFold(getenv("BUILDKITE"), "true") || strings.EqualFold(getenv("TF_BUILD"), "true") {
		return CIGeneric
	}
	return CINone
}

// githubEscapeData escapes the message part of a workflow command.
func githubEscapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// githubEscapeProperty escapes a property value (title=...) of a workflow command.
func githubEscapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// githubGroup starts a collapsible group; githubEndGroup ends it.
func githubGroup(w io.Writer, title string) {
	fmt.Fprintf(w, "::group::%s\n", githubEscapeData(title))
}

func githubEndGroup(w io.Writer) { io.WriteString(w, "::endgroup::\n") }

// githubError writes an error annotation.
func githubError(w io.Writer, title, msg string) {
	fmt.Fprintf(w, "::error title=%s::%s\n", githubEscapeProperty(title), githubEscapeData(msg))
}

// githubStopCommands makes the runner ignore workflow commands until
// githubResumeCommands with the same token: pipe wraps step output in it,
// so nothing a step prints is taken as a command (the token is random and
// printed only after the step has finished).
func githubStopCommands(w io.Writer, token string) {
	fmt.Fprintf(w, "::stop-commands::%s\n", token)
}

func githubResumeCommands(w io.Writer, token string) {
	fmt.Fprintf(w, "::%s::\n", token)
}

// gitlabSectionID is what GitLab accepts in a section name.
var gitlabSectionID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^a-zA-Z0-9_.-]+`) }) // on first use

// gitlabSectionName makes a unique section name for the n-th section of step.
func gitlabSectionName(step string, n int) string {
	return fmt.Sprintf("pipe_%s_%d", gitlabSectionID().ReplaceAllString(step, "_"), n)
}

// gitlabSectionStart starts a (collapsed) section.
func gitlabSectionStart(w io.Writer, t time.Time, name, title string, collapsed bool) {
	opt := ""
	if collapsed {
		opt = "[collapsed=true]"
	}
	fmt.Fprintf(w, "section_start:%d:%s%s\r\x1b[0K%s\n", t.Unix(), name, opt, title)
}

// gitlabSectionEnd ends a section.
func gitlabSectionEnd(w io.Writer, t time.Time, name string) {
	fmt.Fprintf(w, "section_end:%d:%s\r\x1b[0K\n", t.Unix(), name)
}
