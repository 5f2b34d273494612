package github

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// hostWorkflow exercises the job shell: its state between steps, the
// conditions it decides at run time, timeouts and continue-on-error.
const hostWorkflow = `on: push
jobs:
  job:
    runs-on: ubuntu-latest
    steps:
      - id: one
        run: |
          echo "answer=42" >> "$GITHUB_OUTPUT"
          {
            echo "NOTE<<END"
            echo "first line"
            echo "second = line"
            echo "END"
            echo "PLAIN=a=b"
            echo "bad-name=x"
          } >> "$GITHUB_ENV"
          mkdir -p bin && printf '#!/bin/sh\necho from-path\n' > bin/tool && chmod +x bin/tool
          echo "$PWD/bin" >> "$GITHUB_PATH"
      - if: steps.one.outputs.answer == '42' && env.PLAIN == 'a=b'
        run: |
          echo "note=[$NOTE] plain=$PLAIN out=${{ steps.one.outputs.answer }}"
          tool
      - if: steps.one.outputs.answer != '42'
        run: echo "wrong branch"
      - if: startsWith(env.NOTE, 'first')
        run: echo "starts ok; outcome=${{ steps.one.outcome }}"
      - run: sleep 3
        timeout-minutes: 0.02
        continue-on-error: true
      - id: bad
        run: exit 7
      - run: echo "not after a failure"
      - if: failure() && steps.bad.outcome == 'failure'
        run: echo "handled bad"
      - if: always()
        run: echo "always"
`

// TestRunnerScript runs a job's script on this machine's shells (dash, and
// busybox's ash when installed): no container, the semantics of the job
// shell only. The runner's state dir is moved to a temporary one.
func TestRunnerScript(t *testing.T) {
	tr, err := Translate("w.yml", []byte(hostWorkflow), testContext())
	if err != nil {
		t.Fatal(err)
	}
	step := tr.Pipeline.Steps[0]
	shells := [][]string{{"/bin/sh"}}
	if _, err := os.Stat("/bin/busybox"); err == nil {
		shells = append(shells, []string{"/bin/busybox", "sh"})
	}
	for _, sh := range shells {
		t.Run(strings.ReplaceAll(strings.Join(sh, " "), "/", "_"), func(t *testing.T) {
			ws, state := t.TempDir(), t.TempDir()
			script := strings.ReplaceAll(step.ScriptText(), RunnerDir, state)
			cmd := exec.Command(sh[0], append(sh[1:], "-e", "-c", script)...)
			cmd.Dir = ws
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + ws}
			for _, e := range step.Environ() {
				name, val, _ := strings.Cut(e, "=")
				switch name {
				case "RUNNER_TEMP", "RUNNER_TOOL_CACHE": // nothing of the host's
					val = filepath.Join(state, name)
				case RunnerEnv:
					val = strings.ReplaceAll(val, RunnerDir, state)
				}
				cmd.Env = append(cmd.Env, name+"="+val)
			}
			out, err := cmd.CombinedOutput()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 7 {
				t.Fatalf("exit %v, want 7 (the first failed step's code)\n%s", err, out)
			}
			got := string(out)
			for _, want := range []string{
				"note=[first line\nsecond = line] plain=a=b out=42", "from-path",
				"$GITHUB_ENV: 'bad-name' is not a variable name: ignored",
				"starts ok; outcome=success",
				`step "Run sleep 3" failed with exit code 1`, "the step reached its timeout-minutes (2s)", "continue-on-error: the job goes on",
				`step "Run exit 7" failed with exit code 7`,
				"handled bad", "always", `the job failed: step "Run exit 7" failed with exit code 7`, "skipped: its if: is false", "skipped: an earlier step failed",
			} {
				if !strings.Contains(got, want) {
					t.Errorf("no %q in:\n%s", want, got)
				}
			}
			for _, not := range []string{"wrong branch", "not after a failure"} {
				if strings.Contains(got, not) {
					t.Errorf("%q ran:\n%s", not, got)
				}
			}
		})
	}
}
