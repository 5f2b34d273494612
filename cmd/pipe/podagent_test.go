package main

import (
	"bytes"
	"strings"
	"testing"
)

// The exit codes of run are tested through the built binary in
// executor/podagent: Run reaps every child of its process, which would
// steal the children of this package's other tests.
func TestPodAgentHiddenAndChecked(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--help"}, &out, &errb); code != 0 || strings.Contains(out.String(), "pod-agent") {
		t.Errorf("pipe --help (%d) lists the hidden pod-agent:\n%s", code, out.String())
	}
	t.Setenv(agentRootEnv, t.TempDir())
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"pod-agent", "run", "--"}, ExitInvalid, "no command to run"},
		{[]string{"pod-agent", "init"}, ExitInfra, "PIPE_AGENT_SPEC is empty"},
		{[]string{"pod-agent", "push"}, ExitInfra, "PIPE_AGENT_SPEC is empty"},
	} {
		errb.Reset()
		if code := run(c.args, &out, &errb); code != c.code || !strings.Contains(errb.String(), c.want) {
			t.Errorf("%v: exit %d, want %d, stderr %q", c.args, code, c.code, errb.String())
		}
	}
}
