package gitlab

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/pipe-run/pipe/internal/testimage"
)

// BenchmarkStage measures what a GitLab job pays per stage: one run_exec
// process that runs a stage script doing nothing, side by side with the
// same script run by bash on the host (the floor: a fork and exec) and by
// `podman exec` into a running container (what the podman drivers of the
// Custom executor do), where podman is installed. Compare them as ratios.
func BenchmarkStage(b *testing.B) {
	if os.Getenv("PIPE_TEST_ROOT") != "1" || os.Geteuid() != 0 {
		b.Skip("needs root: set PIPE_TEST_ROOT=1")
	}
	rootOnce.Do(func() { shared.err = shared.setup() })
	if shared.err != nil {
		b.Fatal(shared.err)
	}
	dir := b.TempDir()
	script := filepath.Join(dir, "script")
	if err := os.WriteFile(script, []byte(bashScript("true\n")), 0o700); err != nil {
		b.Fatal(err)
	}
	b.Run("host-bash", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if out, err := exec.Command("bash", script).CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	})
	b.Run("pipe-gitlab-run", func(b *testing.B) { benchPipeStage(b, script) })
	b.Run("podman-exec", func(b *testing.B) { benchPodmanExec(b, script) })
}

func benchPipeStage(b *testing.B, script string) {
	env := append(os.Environ(), "PIPE_HOME="+shared.home, "CUSTOM_ENV_CI_JOB_ID=1999", "CUSTOM_ENV_CI_RUNNER_ID=77",
		"CUSTOM_ENV_CI_JOB_IMAGE="+buildImage, "CUSTOM_ENV_CI_JOB_SERVICES=")
	pipe := func(args ...string) {
		cmd := exec.Command(shared.pipe, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("pipe %v: %v: %s", args, err, out)
		}
	}
	pipe("gitlab", "prepare")
	defer pipe("gitlab", "cleanup")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pipe("gitlab", "run", script, "build_script")
	}
}

func benchPodmanExec(b *testing.B, script string) {
	if _, err := exec.LookPath("podman"); err != nil {
		b.Skip("podman is not installed")
	}
	root, err := os.MkdirTemp("", "pipe-bench-podman-")
	if err != nil {
		b.Fatal(err)
	}
	podman := func(args ...string) *exec.Cmd {
		base := []string{"--root", filepath.Join(root, "storage"), "--runroot", filepath.Join(root, "run"),
			"--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", "runc", "--storage-driver", "vfs"}
		return exec.Command("podman", append(base, args...)...)
	}
	tar := filepath.Join(root, "rootfs.tar")
	bb, err := testimage.BusyboxTar()
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(tar, bb, 0o644); err != nil {
		b.Fatal(err)
	}
	if out, err := podman("import", tar, "pipe-bench:1").CombinedOutput(); err != nil {
		os.RemoveAll(root)
		b.Skipf("podman import: %v: %s", err, out)
	}
	if out, err := podman("run", "-d", "--name", "pipe-bench", "--network", "none", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768",
		"pipe-bench:1", "sleep", "100000").CombinedOutput(); err != nil {
		podman("rmi", "-f", "pipe-bench:1").Run()
		os.RemoveAll(root)
		b.Skipf("podman run: %v: %s", err, out)
	}
	defer func() {
		podman("rm", "-f", "-t", "0", "pipe-bench").Run()
		podman("rmi", "-f", "pipe-bench:1").Run()
		os.RemoveAll(root)
	}()
	f, err := os.ReadFile(script)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := podman("exec", "-i", "pipe-bench", "sh")
		cmd.Stdin = bytes.NewReader(f)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("podman exec: %v: %s", err, out)
		}
	}
}
