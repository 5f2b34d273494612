package executor

import (
	"fmt"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/pipeline"
)

// when: status: failure and always steps run after a failure, with fail
// fast; the pipeline still fails.
func TestRunWhenStatus(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		sum, log := e.mustRun(`
steps:
  build: {run: [echo built > out.txt]}
  test: {needs: [build], run: [grep built out.txt, exit 4]}
  deploy: {needs: [test], run: ["true"]}
  report: {needs: [deploy], when: {status: failure}, run: [echo failed]}
  cleanup: {needs: [test], when: {status: always}, run: [grep built out.txt]}
  happy: {needs: [build], when: {status: failure}, run: ["true"]}
`, nil)
		wantStatuses(t, log, map[string]runlog.Status{"build": runlog.StatusOK, "test": runlog.StatusFailed, "deploy": runlog.StatusSkipped,
			"report": runlog.StatusOK, "cleanup": runlog.StatusOK, "happy": runlog.StatusSkipped})
		if sum.Status != runlog.StatusFailed || strings.Join(sum.Failed, ",") != "test" {
			t.Errorf("summary %+v", sum)
		}
		if r := log.finished()["happy"].Reason; r != "when: status: failure, and nothing it needs failed" {
			t.Errorf("happy reason %q", r)
		}
	})
}

// allow_failure: exit_codes allows only those exit codes.
func TestRunAllowExitCodes(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		sum, log := e.mustRun(`
steps:
  allowed: {allow_failure: {exit_codes: [3, 137]}, run: [exit 3]}
  after-allowed: {needs: [allowed], run: ["true"]}
  other-code: {allow_failure: {exit_codes: [3]}, run: [exit 4]}
`, func(o *Options) { o.KeepGoing = true })
		wantStatuses(t, log, map[string]runlog.Status{"allowed": runlog.StatusFailed, "after-allowed": runlog.StatusOK, "other-code": runlog.StatusFailed})
		if sum.Status != runlog.StatusFailed || strings.Join(sum.Failed, ",") != "other-code" {
			t.Errorf("summary %+v: want only other-code to fail the pipeline", sum)
		}
	})
}

// A manual step runs only when named on the command line.
func TestRunManual(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		yml := `
steps:
  build: {run: ["true"]}
  deploy: {needs: [build], manual: true, run: ["true"]}
  notify: {needs: [deploy], run: ["true"]}
`
		_, log := e.mustRun(yml, nil)
		wantStatuses(t, log, map[string]runlog.Status{"build": runlog.StatusOK, "deploy": runlog.StatusSkipped, "notify": runlog.StatusSkipped})
		if r := log.finished()["deploy"].Reason; r != "manual: runs only when named (pipe run deploy)" {
			t.Errorf("deploy reason %q", r)
		}
		_, log = e.mustRun(yml, func(o *Options) { o.Targets = []string{"deploy"} })
		wantStatuses(t, log, map[string]runlog.Status{"build": runlog.StatusCached, "deploy": runlog.StatusOK})
		_, log = e.mustRun(yml, func(o *Options) { o.Targets = []string{"notify"} })
		wantStatuses(t, log, map[string]runlog.Status{"build": runlog.StatusCached, "deploy": runlog.StatusSkipped, "notify": runlog.StatusSkipped})
	})
}

// A service's args replace the image's cmd and keep its entrypoint; a
// command replaces both.
func TestServiceArgsKeepEntrypoint(t *testing.T) {
	cfg := &v1.ConfigFile{Config: v1.Config{Entrypoint: []string{"docker-entrypoint.sh"}, Cmd: []string{"postgres"}}}
	for _, c := range []struct {
		def  pipeline.Service
		want string
	}{
		{pipeline.Service{}, "[docker-entrypoint.sh postgres]"},
		{pipeline.Service{Args: []string{"postgres", "-c", "fsync=off"}}, "[docker-entrypoint.sh postgres -c fsync=off]"},
		{pipeline.Service{Command: []string{"redis-server"}, Args: []string{"x"}}, "[redis-server]"},
	} {
		if got := fmt.Sprint(serviceArgs(&c.def, cfg)); got != c.want {
			t.Errorf("%+v: argv %s, want %s", c.def, got, c.want)
		}
	}
}

// outputs_from narrows the outputs a step sees to the steps it lists.
func TestRunOutputsFrom(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		_, log := e.mustRun(`
steps:
  first: {run: [echo a > a.txt]}
  second: {needs: [first], run: [test -e a.txt, echo b > b.txt]}
  only-second: {needs: [second], outputs_from: [second], run: [test -e b.txt, test ! -e a.txt]}
  nothing: {needs: [second], outputs_from: [], run: [test ! -e b.txt, test ! -e a.txt]}
  all: {needs: [second], run: [test -e b.txt, test -e a.txt]}
`, nil)
		wantStatuses(t, log, map[string]runlog.Status{"first": runlog.StatusOK, "second": runlog.StatusOK, "only-second": runlog.StatusOK, "nothing": runlog.StatusOK, "all": runlog.StatusOK})
	})
}
