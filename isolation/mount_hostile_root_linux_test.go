package isolation

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Images may hold symlinks where pipe mounts; nothing may land outside the
// root, and /proc and /sys must be real directories.
func TestHostileImages(t *testing.T) {
	r := newTestRuntime(t)
	t.Run("proc symlink refused", func(t *testing.T) {
		s := busybox(t, "/bin/true")
		replaceWithSymlink(t, s.Root.Lower[0], "proc", "/tmp")
		_, err := r.Run(context.Background(), s)
		if err == nil || !strings.Contains(err.Error(), "/proc is a symlink") {
			t.Fatalf("got %v, want /proc refused", err)
		}
	})
	t.Run("sys file refused", func(t *testing.T) {
		s := busybox(t, "/bin/true")
		root := s.Root.Lower[0]
		os.Remove(filepath.Join(root, "sys"))
		if err := os.WriteFile(filepath.Join(root, "sys"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Run(context.Background(), s); err == nil || !strings.Contains(err.Error(), "/sys is a symlink or not a directory") {
			t.Fatalf("got %v, want /sys refused", err)
		}
	})
	t.Run("dev symlink to the host gets a fresh tmpfs", func(t *testing.T) {
		hostDir := t.TempDir()
		s := busybox(t, "/bin/sh", "-c", "touch /dev/pwned && ls /dev/null /dev/pwned && grep -c ' /dev tmpfs' /proc/self/mounts")
		replaceWithSymlink(t, s.Root.Lower[0], "dev", hostDir)
		res, out := run(t, r, s)
		if res.ExitCode != 0 || out != "/dev/null\n/dev/pwned\n1\n" {
			t.Errorf("exit %d: %q", res.ExitCode, out)
		}
		if entries, _ := os.ReadDir(hostDir); len(entries) != 0 {
			t.Errorf("the host dir the image's /dev pointed to was written: %v", entries)
		}
	})
	t.Run("workspace symlink to / refused", func(t *testing.T) {
		s := busybox(t, "/bin/true")
		replaceWithSymlink(t, s.Root.Lower[0], "workspace", "/")
		s.Mounts = []Mount{{Type: MountBind, Source: t.TempDir(), Target: "/workspace"}}
		if _, err := r.Run(context.Background(), s); err == nil || !strings.Contains(err.Error(), "root directory") {
			t.Fatalf("got %v, want the mount over / refused", err)
		}
	})
	t.Run("workspace symlink out stays inside", func(t *testing.T) {
		src := t.TempDir()
		if err := os.WriteFile(filepath.Join(src, "marker"), []byte("m"), 0o644); err != nil {
			t.Fatal(err)
		}
		s := busybox(t, "/bin/sh", "-c", "ls /tmp/ /workspace/")
		replaceWithSymlink(t, s.Root.Lower[0], "workspace", "../../../../../../../tmp")
		s.Mounts = []Mount{{Type: MountBind, Source: src, Target: "/workspace"}}
		res, out := run(t, r, s)
		if res.ExitCode != 0 || out != "/tmp/:\nmarker\n\n/workspace/:\nmarker\n" {
			t.Errorf("exit %d: %q", res.ExitCode, out)
		}
		if _, err := os.Stat("/tmp/marker"); err == nil {
			t.Errorf("the bind mount landed on the host's /tmp")
		}
	})
	t.Run("workspace dangling symlink refused", func(t *testing.T) {
		s := busybox(t, "/bin/true")
		replaceWithSymlink(t, s.Root.Lower[0], "workspace", "/nowhere/ws")
		s.Mounts = []Mount{{Type: MountBind, Source: t.TempDir(), Target: "/workspace"}}
		if _, err := r.Run(context.Background(), s); err == nil || !strings.Contains(err.Error(), "dangling symlink") {
			t.Fatalf("got %v, want a dangling symlink refused", err)
		}
	})
	t.Run("etc hosts into proc refused", func(t *testing.T) {
		s := busybox(t, "/bin/true")
		replaceWithSymlink(t, s.Root.Lower[0], "etc/hosts", "/proc/sys/kernel/hostname")
		if _, err := r.Run(context.Background(), s); err == nil || !strings.Contains(err.Error(), "/proc or /sys") {
			t.Fatalf("got %v, want refused", err)
		}
	})
	t.Run("passwd that never ends", func(t *testing.T) {
		s := busybox(t, "/bin/sh", "-c", "echo $HOME")
		replaceWithSymlink(t, s.Root.Lower[0], "etc/passwd", "/dev/zero")
		if err := syscall.Mkfifo(filepath.Join(s.Root.Lower[0], "etc/group.fifo"), 0o644); err != nil {
			t.Fatal(err)
		}
		replaceWithSymlink(t, s.Root.Lower[0], "etc/group", "group.fifo")
		res, out := run(t, r, s)
		if res.ExitCode != 0 || out != "/\n" {
			t.Errorf("exit %d: %q", res.ExitCode, out)
		}
	})
}

// replaceWithSymlink makes root/name a symlink to target.
func replaceWithSymlink(t *testing.T, root, name, target string) {
	t.Helper()
	p := filepath.Join(root, name)
	if err := os.RemoveAll(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}
