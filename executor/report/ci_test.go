package report

import "testing"

func TestDetectCI(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want CIHost
	}{
		{nil, CINone},
		{map[string]string{"CI": "false"}, CINone},
		{map[string]string{"CI": "0"}, CINone},
		{map[string]string{"CI": "true"}, CIGeneric},
		{map[string]string{"CI": "1"}, CIGeneric},
		{map[string]string{"JENKINS_URL": "http://j"}, CIGeneric},
		{map[string]string{"BUILDKITE": "true"}, CIGeneric},
		{map[string]string{"GITHUB_ACTIONS": "true", "CI": "true"}, CIGitHub},
		{map[string]string{"GITLAB_CI": "true", "CI": "true"}, CIGitLab},
		{map[string]string{"GITHUB_ACTIONS": "false"}, CINone},
	}
	for _, tc := range tests {
		if got := DetectCI(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("DetectCI(%v) = %q, want %q", tc.env, got, tc.want)
		}
	}
}

func TestGitHubEscape(t *testing.T) {
	if got := githubEscapeProperty("a:b,c%\n"); got != "a%3Ab%2Cc%25%0A" {
		t.Errorf("property escape = %q", got)
	}
	if got := githubEscapeData("50%\r\nx:y"); got != "50%25%0D%0Ax:y" {
		t.Errorf("data escape = %q", got)
	}
	if got := gitlabSectionName("test (go=1.22)", 2); got != "pipe_test_go_1.22__2" {
		t.Errorf("section name = %q", got)
	}
}
