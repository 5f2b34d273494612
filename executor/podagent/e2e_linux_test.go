//go:build linux

package podagent

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pipe-run/pipe/internal/pipetest"
)

// buildPipe builds pipe's static binary for the test.
func buildPipe(t *testing.T) string {
	t.Helper()
	exe, err := pipetest.Build(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// agentCmd is `exe pod-agent args...` with the pod's paths under root and
// the spec, registry config and CA of a pod's agent container.
func agentCmd(exe, root string, sp Spec, args ...string) *exec.Cmd {
	b, _ := json.Marshal(sp)
	cmd := exec.Command(exe, append([]string{"pod-agent"}, args...)...)
	cmd.Env = append(os.Environ(), "PIPE_AGENT_ROOT="+root, SpecEnv+"="+string(b))
	cmd.Dir = filepath.Join(root, "workspace")
	return cmd
}

// TestPodAgentEndToEnd runs the three subcommands of pipe's real binary as
// a pod runs them, against a TLS registry with a password: init, then push
// in the background while run runs the step's script.
func TestPodAgentEndToEnd(t *testing.T) {
	r := startRepo(t)
	tars, layers := baseLayers(t, r)
	sp := r.spec(layers...)
	exe := buildPipe(t)
	root := t.TempDir()
	p := PathsUnder(root)
	os.MkdirAll(p.Workspace, 0o755)
	os.MkdirAll(p.State, 0o755)

	if out, err := agentCmd(exe, root, sp, "init").CombinedOutput(); err != nil {
		t.Fatalf("pod-agent init: %v\n%s", err, out)
	}
	if diff := cmp.Diff(describeTree(t, applyAll(t, tars...)), describeTree(t, p.Workspace)); diff != "" {
		t.Fatalf("workspace after init -want +got:\n%s", diff)
	}

	var pushLog bytes.Buffer
	push := agentCmd(p.Binary(), root, sp, "push")
	pushTerm := filepath.Join(root, "push-termination-log")
	push.Env = append(push.Env, "PIPE_AGENT_TERMINATION_LOG="+pushTerm)
	push.Stdout, push.Stderr = &pushLog, &pushLog
	if err := push.Start(); err != nil {
		t.Fatal(err)
	}
	defer push.Process.Kill()

	// The step container runs the copy init left in the state dir, without
	// the agents' spec.
	run := exec.Command(p.Binary(), "pod-agent", "run", "--", "sh", "-c", "echo hi > new; rm old; echo step-output; exit 3")
	run.Env = append(os.Environ(), "PIPE_AGENT_ROOT="+root)
	run.Dir = p.Workspace
	out, err := run.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
		t.Fatalf("pod-agent run: %v, want exit 3\n%s", err, out)
	}
	if !strings.Contains(string(out), "step-output") {
		t.Errorf("the step's output is not the run's: %q", out)
	}
	b, err := os.ReadFile(p.TerminationLog)
	if err != nil {
		t.Fatal(err)
	}
	var m Termination
	if err := json.Unmarshal(b, &m); err != nil || m.Exit != 3 || m.Diff == nil || m.Error != "" {
		t.Fatalf("termination message %s (%v)\npush log:\n%s", b, err, pushLog.String())
	}

	// The sidecar waits to be stopped, then exits 0.
	time.Sleep(100 * time.Millisecond)
	if push.ProcessState != nil {
		t.Fatal("push exited before it was stopped")
	}
	push.Process.Signal(syscall.SIGTERM)
	if err := push.Wait(); err != nil {
		t.Errorf("push after SIGTERM: %v\n%s", err, pushLog.String())
	}
	var pm Pushed
	if b, err := os.ReadFile(pushTerm); err != nil || json.Unmarshal(b, &pm) != nil || pm.Layer != *m.Diff {
		t.Errorf("the push container's termination message %s (%v), want the diff %+v", b, err, *m.Diff)
	}

	got := applyAll(t, append(tars, r.fetchTar(t, *m.Diff))...)
	if diff := cmp.Diff(describeTree(t, p.Workspace), describeTree(t, got)); diff != "" {
		t.Errorf("original tree + pushed diff -after the script +got:\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(got, "old")); !os.IsNotExist(err) {
		t.Errorf("old survived the diff: %v", err)
	}

	t.Run("TamperedBlobRefused", func(t *testing.T) {
		gz, _ := gzipBytes(layerTar(t, file("pwned", "not the layer")))
		r.reg.SetFault(func(w http.ResponseWriter, req *http.Request) bool {
			if req.Method != http.MethodGet || !strings.HasSuffix(req.URL.Path, "/blobs/"+layers[0].Digest) {
				return false
			}
			w.Write(gz)
			return true
		})
		defer r.reg.SetFault(nil)
		root := t.TempDir()
		p := PathsUnder(root)
		os.MkdirAll(p.Workspace, 0o755)
		os.MkdirAll(p.State, 0o755)
		out, err := agentCmd(exe, root, sp, "init").CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || !strings.Contains(string(out), "workspace layer 1 of 2") || !strings.Contains(string(out), "digest mismatch") {
			t.Fatalf("init from a registry that lies: %v, want exit 3 and a digest mismatch of layer 1\n%s", err, out)
		}
		if names, _ := os.ReadDir(p.Workspace); len(names) != 0 {
			t.Errorf("the refused layer left %v in the workspace", names)
		}
	})

	t.Run("SignalForwarded", func(t *testing.T) {
		root := t.TempDir()
		p := PathsUnder(root)
		os.MkdirAll(p.Workspace, 0o755)
		os.MkdirAll(p.State, 0o755)
		ready := filepath.Join(root, "ready")
		run := exec.Command(exe, "pod-agent", "run", "--", "sh", "-c", "touch "+ready+"; exec sleep 300")
		run.Env = append(os.Environ(), "PIPE_AGENT_ROOT="+root)
		var log bytes.Buffer
		run.Stderr = &log
		if err := run.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the child runs before signalling.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, err := os.Stat(ready); ctx.Err() == nil && err != nil; _, err = os.Stat(ready) {
			time.Sleep(20 * time.Millisecond)
		}
		run.Process.Signal(syscall.SIGTERM)
		err := run.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 128+int(syscall.SIGTERM) {
			t.Fatalf("run after SIGTERM: %v, want exit 143\n%s", err, log.String())
		}
		b, _ := os.ReadFile(p.TerminationLog)
		if !strings.Contains(string(b), `"exit":143`) || !strings.Contains(string(b), "stopped by a signal") {
			t.Errorf("termination message %s", b)
		}
	})
}
