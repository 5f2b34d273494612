package github

import (
	"fmt"
	"strconv"
	"strings"
)

// A job becomes one pipe step whose run list is: the set-up (the runner's
// shell functions), one command per workflow step, and the completion. The
// commands share one shell (sh -e), which keeps the job's state: its status
// (success until a step fails), the variables steps add through
// $GITHUB_ENV, the PATH entries of $GITHUB_PATH, and the step outputs of
// $GITHUB_OUTPUT, kept as files under /tmp/pipe-github. Each workflow step
// runs as its own process, with its own shell, as on a GitHub runner.

// RunnerDir is where the job keeps its runner state in the container.
const RunnerDir = "/tmp/pipe-github"

// ShareDir is the workspace directory a job leaves for the jobs that need
// it: artifacts and job outputs. It is the job's only output.
const ShareDir = ".pipe-github"

// RunnerEnv is the variable of the top-level env that holds the runner's
// shell functions; the first command of every job evaluates it, then unsets
// it, so that the workflow's steps do not see it.
const RunnerEnv = "PIPE_GITHUB_RUNNER"

// runnerSetup is the first command of every job.
const runnerSetup = "# Set up job\neval \"$" + RunnerEnv + "\"; unset " + RunnerEnv + "\n" +
	"rm -rf \"$__gh_d\" && mkdir -p \"$__gh_d/out\" \"$RUNNER_TEMP\" \"$RUNNER_TOOL_CACHE\""

// runnerFuncs are the runner's shell functions and state.
const runnerFuncs = `__gh_d=` + RunnerDir + `
__gh_status=success __gh_rc=0
__gh_ok() { [ "$__gh_status" = success ]; }
__gh_get() { cat "$__gh_d/$1" 2>/dev/null || true; }
__gh_begin() {
  for __gh_f in e p o s; do : > "$__gh_d/$__gh_f$1"; done
  export GITHUB_ENV="$__gh_d/e$1" GITHUB_PATH="$__gh_d/p$1" GITHUB_OUTPUT="$__gh_d/o$1" GITHUB_STEP_SUMMARY="$__gh_d/s$1"
}
__gh_kv() {
  [ -s "$1" ] || return 0
  while IFS= read -r __gh_l || [ -n "$__gh_l" ]; do
    __gh_n=${__gh_l%%=*}
    case $__gh_n in
    *'<<'*)
      __gh_dl=${__gh_l#*<<} __gh_n=${__gh_l%%<<*} __gh_v= __gh_1=1
      while IFS= read -r __gh_l; do
        [ "$__gh_l" != "$__gh_dl" ] || break
        if [ $__gh_1 = 1 ]; then __gh_v=$__gh_l __gh_1=0; else __gh_v="$__gh_v
$__gh_l"; fi
      done ;;
    "$__gh_l") continue ;;
    *) __gh_v=${__gh_l#*=} ;;
    esac
    "$2" "$__gh_n" "$__gh_v" || :
  done < "$1"
}
__gh_setenv() {
  case $1 in
  ''|[0-9]*|*[!A-Za-z0-9_]*) echo "pipe: \$GITHUB_ENV: '$1' is not a variable name: ignored" ;;
  *) export "$1=$2" ;;
  esac
}
__gh_setout() {
  case $1 in
  ''|*[!A-Za-z0-9_-]*) echo "pipe: \$GITHUB_OUTPUT: '$1' is not an output name: ignored" ;;
  *) mkdir -p "$__gh_d/out/$__gh_id" && printf '%s' "$2" > "$__gh_d/out/$__gh_id/$1" ;;
  esac
}
__gh_outcome() {
  if [ -n "$1" ]; then printf %s "$2" > "$__gh_d/outcome.$1"; printf %s "$3" > "$__gh_d/conclusion.$1"; fi
}
__gh_end() {
  __gh_id=$4
  __gh_kv "$__gh_d/e$1" __gh_setenv
  if [ -s "$__gh_d/p$1" ]; then
    while IFS= read -r __gh_l; do if [ -n "$__gh_l" ]; then PATH="$__gh_l:$PATH"; fi; done < "$__gh_d/p$1"
    export PATH
  fi
  if [ -n "$4" ]; then __gh_kv "$__gh_d/o$1" __gh_setout; fi
  if [ "$2" = 0 ]; then __gh_outcome "$4" success success; return 0; fi
  printf 'pipe: step "%s" failed with exit code %s\n' "$6" "$2"
  case $7:$2 in 0:*) ;; *:124|*:137) echo "pipe: the step reached its timeout-minutes ($7s)" ;; esac
  if [ "$3" = 1 ]; then
    __gh_outcome "$4" failure success; echo "pipe: continue-on-error: the job goes on"; return 0
  fi
  __gh_outcome "$4" failure failure
  __gh_status=failure
  if [ "$__gh_rc" = 0 ]; then __gh_rc=$2 __gh_failed=$6; fi
  if [ "$5" = 0 ]; then exit "$2"; fi
}
__gh_skip() {
  __gh_outcome "$1" skipped skipped
  if __gh_ok; then echo "pipe: skipped: its if: is false"; else echo "pipe: skipped: an earlier step failed"; fi
}
__gh_timeout() {
  if timeout --version >/dev/null 2>&1; then __gh_to="timeout -k 10 -s TERM $1"
  elif command -v timeout >/dev/null 2>&1; then __gh_to="timeout -s KILL $1"
  else echo "pipe: no timeout command in this image: timeout-minutes is not applied"; __gh_to=; fi
}
__gh_shell() {
  if command -v bash >/dev/null 2>&1; then exec $__gh_to bash -e "$1"; else exec $__gh_to sh -e "$1"; fi
}`

// runnerFinish is the last command of every job: it writes the job's
// outputs and ends with the exit code of the first failed step.
func runnerFinish(outputs []string) string {
	var b strings.Builder
	b.WriteString("# Complete job\n")
	for _, o := range outputs {
		b.WriteString(o)
		b.WriteByte('\n')
	}
	b.WriteString(`if [ "$__gh_rc" != 0 ]; then printf 'pipe: the job failed: step "%s" failed with exit code %s\n' "$__gh_failed" "$__gh_rc"; fi` + "\n")
	b.WriteString(`exit "$__gh_rc"`)
	return b.String()
}

// shellStep is one workflow step made into a command of the job.
type shellStep struct {
	n         int    // its number in the job, from 1
	id        string // its id; "" when it has none
	name      string // its display name
	cond      string // shell condition; "" runs it when the job has not failed
	script    string // the run: text, for a step that runs a script
	shell     string // the shell command with {0} for the script file; "" for the default
	exports   []string
	workdir   string
	timeout   int // seconds; 0: none
	goOn      bool
	later     bool   // a later step may run after a failure: do not end the job here
	afterFail bool   // this step may run after a failure
	body      string // a native action's commands, instead of a script
	pre       string // a command run in the job's shell before the step
}

// command writes the step as one command of the run list.
func (s *shellStep) command() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n", oneLine(s.name))
	cond := s.cond
	if cond == "" {
		cond = "__gh_ok"
	}
	fmt.Fprintf(&b, "if %s; then\n__gh_begin %d\n", cond, s.n)
	if s.pre != "" {
		b.WriteString(s.pre + "\n")
	}
	file := fmt.Sprintf("%s/step%d", RunnerDir, s.n)
	if s.body == "" {
		delim := heredocDelim(s.script, s.n)
		fmt.Fprintf(&b, "cat > %s <<'%s'\n%s\n%s\n", file, delim, strings.TrimSuffix(s.script, "\n"), delim)
	}
	b.WriteString("__gh_r=0\n(\n")
	for _, e := range s.exports {
		b.WriteString(e)
		b.WriteByte('\n')
	}
	if s.workdir != "" {
		fmt.Fprintf(&b, "cd -- %s\n", shQuote(s.workdir))
	}
	if s.body != "" {
		b.WriteString(s.body)
		b.WriteByte('\n')
	} else {
		b.WriteString(s.exec(file))
	}
	fmt.Fprintf(&b, ") || __gh_r=$?\n__gh_end %d \"$__gh_r\" %s %s %s %s %d\n", s.n, bit(s.goOn), shQuote(s.id), bit(s.later), shQuote(oneLine(s.name)), s.timeout)
	fmt.Fprintf(&b, "else __gh_skip %s; fi", shQuote(s.id))
	return b.String()
}

// exec starts the step's shell on its script file.
func (s *shellStep) exec(file string) string {
	to := "__gh_to=\n"
	if s.timeout > 0 {
		to = "__gh_timeout " + strconv.Itoa(s.timeout) + "\n"
	}
	if s.shell == "" {
		return to + "__gh_shell " + file + "\n"
	}
	return to + "exec $__gh_to " + strings.ReplaceAll(s.shell, "{0}", file) + "\n"
}

func bit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// heredocDelim returns a here-document delimiter that is no line of script.
func heredocDelim(script string, n int) string {
	d := fmt.Sprintf("__PIPE_GH_STEP_%d__", n)
	for strings.Contains(script, d) {
		d += "_"
	}
	return d
}

// shellCommand is GitHub's command for a shell: name, with {0} for the
// script file. "" is the default (bash -e, or sh -e without bash).
func shellCommand(shell string) (string, error) {
	switch shell {
	case "":
		return "", nil
	case "bash":
		return "bash --noprofile --norc -eo pipefail {0}", nil
	case "sh":
		return "sh -e {0}", nil
	case "python":
		return "python {0}", nil
	case "pwsh":
		return "pwsh -command \". '{0}'\"", nil
	case "cmd", "powershell":
		return "", fmt.Errorf("%s is a Windows shell: pipe runs Linux containers; use bash, sh, python or pwsh", shell)
	}
	if !strings.Contains(shell, "{0}") {
		return "", fmt.Errorf("custom shell %q has no {0} for the script file (write for example: perl {0})", shell)
	}
	return shell, nil
}
