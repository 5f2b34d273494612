// Package testuser makes throwaway ordinary users for tests that run pipe
// rootless: as root, a test creates a user (with or without subordinate
// ids in /etc/subuid and /etc/subgid), runs a copy of a binary as that user
// (setpriv, with no capabilities left), and removes the user afterwards.
// It is test support: the product packages never import it.
package testuser

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// User is a throwaway user made by New.
type User struct {
	Name     string
	UID, GID int
	Home     string
	Dir      string // a scratch dir of the test's, 0755, for binaries the user runs
}

// New creates an ordinary user for t, with subordinate ids when sub (a range
// of 65536 from useradd or usermod), and removes it with its home when t
// ends. It fails t when useradd, usermod or setpriv are missing.
func New(t testing.TB, sub bool) *User {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("testuser: creating users needs root")
	}
	for _, tool := range []string{"useradd", "usermod", "userdel", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("testuser: %s is missing: %v", tool, err)
		}
	}
	name := fmt.Sprintf("pipe-t%d", os.Getpid()%100000)
	if !sub {
		name += "s"
	}
	_ = shadow("userdel", "-r", name) // a leftover of a killed test
	if err := shadow("useradd", "-m", "-s", "/bin/sh", name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := shadow("userdel", "-r", name); err != nil {
			t.Error(err)
		}
	})
	if err := shadow("usermod", "--del-subuids", "1-4294967294", "--del-subgids", "1-4294967294", name); err != nil {
		t.Fatal(err)
	}
	if sub {
		start := 500000 + (os.Getpid()%1000)*65536
		r := fmt.Sprintf("%d-%d", start, start+65535)
		if err := shadow("usermod", "--add-subuids", r, "--add-subgids", r, name); err != nil {
			t.Fatal(err)
		}
	}
	pw, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	u := &User{Name: name, Home: pw.HomeDir}
	u.UID, _ = strconv.Atoi(pw.Uid)
	u.GID, _ = strconv.Atoi(pw.Gid)
	t.Cleanup(func() {
		// What a rootless pipe of u leaves outside its home: its state dir
		// (no XDG_RUNTIME_DIR here) and, before Linux 6.6, its disk scratch.
		os.RemoveAll(filepath.Join(os.TempDir(), "pipe-run-"+strconv.Itoa(u.UID)))
		os.RemoveAll(filepath.Join("/var/tmp", "pipe-scratch-"+strconv.Itoa(u.UID)))
	})
	u.Dir, err = os.MkdirTemp("", "pipe-testuser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(u.Dir) })
	if err := os.Chmod(u.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return u
}

// shadow runs a shadow-utils tool, again while another one (the tests of
// another package, at the same time) holds the lock on /etc/passwd.
func shadow(tool string, args ...string) error {
	var out []byte
	var err error
	for try := 0; try < 50; try++ {
		out, err = exec.Command(tool, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "lock") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", tool, strings.Join(args, " "), err, out)
	}
	return nil
}

// CopyExecutable copies this test binary into u.Dir as name, executable by
// u (a binary under root's 0700 temp dirs is not).
func (u *User) CopyExecutable(t testing.TB, name string) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(u.Dir, name)
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return dst
}

// Command runs bin as u: real and effective ids u's, u's groups, no
// capabilities, a clean environment with HOME, USER and PATH plus env.
// With noNewPrivs, no_new_privs is set as well (then the setuid newuidmap
// cannot map subordinate ids).
func (u *User) Command(noNewPrivs bool, env []string, bin string, args ...string) *exec.Cmd {
	sp := []string{"--reuid=" + strconv.Itoa(u.UID), "--regid=" + strconv.Itoa(u.GID), "--init-groups", "--reset-env"}
	if noNewPrivs {
		sp = append(sp, "--no-new-privs")
	}
	full := append(sp, "--", "env", "HOME="+u.Home, "USER="+u.Name, "PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
	full = append(append(full, env...), bin)
	cmd := exec.Command("setpriv", append(full, args...)...)
	cmd.Dir = u.Dir
	return cmd
}

// Chown gives u the files at paths (recursively).
func (u *User) Chown(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		err := filepath.Walk(p, func(q string, _ os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			return os.Lchown(q, u.UID, u.GID)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
