package executor

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pipe-run/pipe/executor/runlog"
)

// servicePipeline is a step that reads a page from an httpd service.
func servicePipeline(e *testEnv, port int) string {
	host := "web" // by name, through the step's /etc/hosts
	if e.fake != nil {
		host = "127.0.0.1" // the fake has the host's network and /etc/hosts
	}
	return fmt.Sprintf(`
services:
  web:
    image: %s
    command: mkdir -p www && echo hello-from-web > www/index.html && exec httpd -f -p 127.0.0.1:%d -h www
    ready: {run: "wget -q -O /dev/null http://127.0.0.1:%d/", interval: 50ms}
  broken:
    image: %s
    command: echo broken-service-says-bye; exit 3
    ready: {run: "false", interval: 50ms}
steps:
  use:
    services: [web]
    run: [wget -q -O - http://%s:%d/]
  fails:
    services: [broken]
    run: [echo never]
`, testImage, port, port, testImage, host, port)
}

func TestRunServices(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		port := freePort(t)
		_, log := e.mustRun(servicePipeline(e, port), func(o *Options) { o.KeepGoing, o.ServiceLogs = true, true })
		wantStatuses(t, log, map[string]runlog.Status{"use": runlog.StatusOK, "fails": runlog.StatusFailed})
		if got := strings.Join(log.lines("use"), "|"); !strings.Contains(got, "service web is ready") || !strings.Contains(got, "hello-from-web") {
			t.Errorf("use's log %q", got)
		}
		f := log.finished()["fails"]
		if !strings.Contains(f.Error, "service broken of step fails: exited with code 3") || !strings.Contains(f.Error, "broken-service-says-bye") {
			t.Errorf("fails: error %q, want the service's exit and its last output", f.Error)
		}
		if got := strings.Join(log.lines("svc/broken"), "|"); !strings.Contains(got, "broken-service-says-bye") {
			t.Errorf("service log %q", got)
		}
		if f.ExitCode != 0 || strings.Contains(strings.Join(log.lines("fails"), "|"), "never") {
			t.Errorf("the step ran though its service failed: %+v", f)
		}
	})
}

// Services are per step: a service started for one step is gone after it, and
// two steps using the same service never share an instance.
func TestRunServicesPerStep(t *testing.T) {
	forEachRuntime(t, func(t *testing.T, e *testEnv) {
		if e.fake != nil {
			t.Skip("the fake shares the host's network: per-step namespaces need isolation")
		}
		_, log := e.mustRun(fmt.Sprintf(`
services:
  kv:
    image: %s
    command: mkdir -p www && cat /proc/sys/kernel/random/uuid > www/id && exec httpd -f -p 8080 -h www
    ready: {run: "wget -q -O /dev/null http://127.0.0.1:8080/id", interval: 50ms}
steps:
  a: {services: [kv], run: wget -q -O - http://kv:8080/id}
  b: {services: [kv], run: wget -q -O - http://kv:8080/id}
  c: {needs: [a, b], run: "! wget -q -T 1 -O - http://127.0.0.1:8080/id"}
`, testImage), nil)
		wantStatuses(t, log, map[string]runlog.Status{"a": runlog.StatusOK, "b": runlog.StatusOK, "c": runlog.StatusOK})
		a, b := log.lines("a"), log.lines("b")
		if len(a) == 0 || len(b) == 0 || a[len(a)-1] == b[len(b)-1] {
			t.Errorf("a and b saw the same service instance: %q %q", a, b)
		}
	})
}
