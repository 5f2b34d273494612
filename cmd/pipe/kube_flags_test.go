package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What pipe run refuses of the kubernetes backend before it talks to any
// cluster or registry.
func TestRunKubernetesBackendRefusals(t *testing.T) {
	repo := t.TempDir()
	yml := "version: 1\nimage: pipe.test/busybox:none\nsteps:\n  a: {run: 'true'}\n"
	if err := os.WriteFile(filepath.Join(repo, ".pipe.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	e := &runEnv{home: t.TempDir(), repo: repo}
	for _, c := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no cache repository", nil, []string{"--backend", "kubernetes"}, "--backend kubernetes needs --cache-to REPOSITORY (or PIPE_CACHE_TO)"},
		{"PIPE_BACKEND", []string{"PIPE_BACKEND=kubernetes"}, nil, "--backend kubernetes needs --cache-to"},
		{"a loopback registry", nil, []string{"--backend", "kubernetes", "--cache-to", "127.0.0.1:5000/team/cache"}, "cannot reach a registry on this machine's loopback"},
		{"an unknown backend", nil, []string{"--backend", "nomad"}, `--backend "nomad": want local or kubernetes`},
		{"kube flags on the local backend", nil, []string{"--kube-namespace", "ci"}, "need --backend kubernetes"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cmd := e.command(append([]string{"run"}, c.args...)...)
			cmd.Env = append(cmd.Env, c.env...)
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != ExitInvalid || !strings.Contains(string(out), c.want) {
				t.Errorf("exit %d, want %d with %q:\n%s", code, ExitInvalid, c.want, out)
			}
		})
	}
}

func TestPruneKubernetesFlags(t *testing.T) {
	e := &runEnv{home: t.TempDir(), repo: t.TempDir()}
	out, code := e.pipe(t, "cache", "prune", "--kube-namespace", "ci")
	if code != ExitInvalid || !strings.Contains(out, "need --kubernetes") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	cmd := e.command("cache", "prune", "--kubernetes")
	cmd.Env = append(cmd.Env, "KUBECONFIG="+filepath.Join(t.TempDir(), "none"))
	b, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(b), "no cluster configured") {
		t.Errorf("prune without a cluster: exit %d:\n%s", cmd.ProcessState.ExitCode(), b)
	}
}
