package workspace

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// listingEnv is a git work tree with a home of its own (global config and
// excludes), a git on PATH that counts its runs, and a listing file.
type listingEnv struct {
	t             *testing.T
	root          string // holds the work tree and the home
	top, home     string
	cache, gitLog string
	age           int // seconds added to the base time of the next aging
}

func newListingEnv(t *testing.T) *listingEnv {
	needsGit(t)
	realGit, _ := exec.LookPath("git")
	root := t.TempDir()
	e := &listingEnv{t: t, root: root, top: filepath.Join(root, "top"), home: filepath.Join(root, "home"),
		cache: filepath.Join(root, "store", "ws.hashes.listing"), gitLog: filepath.Join(root, "git.log")}
	bin := filepath.Join(root, "bin")
	os.MkdirAll(bin, 0o755)
	os.MkdirAll(e.home, 0o755)
	os.MkdirAll(e.top, 0o755)
	script := "#!/bin/sh\necho \"$*\" >> " + e.gitLog + "\nexec " + realGit + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "git"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	t.Setenv("HOME", e.home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(e.home, ".config"))
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	wsGit(t, e.top, "init", "-q")
	e.write(map[string]string{"tracked.txt": "t", "src/a.go": "a", "src/deep/b.go": "b", ".gitignore": "*.o\n/bin/\n"})
	wsGit(t, e.top, "add", ".")
	wsGit(t, e.top, "commit", "-q", "-m", "init")
	return e
}

// write writes files under the work tree.
func (e *listingEnv) write(files map[string]string) {
	e.t.Helper()
	for name, content := range files {
		p := filepath.Join(e.top, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
}

// ageChanged sets the mtime of everything under the root modified in the
// last ten minutes (what the last change touched, and at the start
// everything) to an hour ago plus a second more than last time: as if the
// change was long past (outside listingRacyWindow), each change still
// leaving mtimes of its own, and what it did not touch as it was.
func (e *listingEnv) ageChanged() {
	e.t.Helper()
	e.age++
	when := time.Now().Add(-time.Hour).Add(time.Duration(e.age) * time.Second)
	recent := time.Now().Add(-10 * time.Minute)
	filepath.WalkDir(e.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().After(recent) {
			os.Chtimes(p, when, when)
		}
		return nil
	})
}

// list lists dir (the top or a dir in it) through the listing and checks
// the answer against git's own; it returns how many times git ran.
func (e *listingEnv) list(dir string) int {
	e.t.Helper()
	os.Remove(e.gitLog)
	got, keep, err := gitListFiles(context.Background(), dir, e.cache)
	keep()
	if err != nil {
		e.t.Fatal(err)
	}
	runs := e.gitRuns()
	want, err := gitLsFiles(context.Background(), dir)
	if err != nil {
		e.t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		e.t.Fatalf("listing of %s:\n%s\ngit says:\n%s", dir, show(got), show(want))
	}
	return runs
}

func (e *listingEnv) gitRuns() int {
	b, _ := os.ReadFile(e.gitLog)
	return strings.Count(string(b), "\n")
}

func show(out []byte) string {
	names := strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	slices.Sort(names)
	return strings.Join(names, "\n")
}

// TestListingReused checks that an unchanged work tree is listed without
// git, and that git runs again, with the answer it gives, after every kind of
// change that can change the answer.
func TestListingReused(t *testing.T) {
	e := newListingEnv(t)
	os.MkdirAll(filepath.Join(e.top, "empty", "inner"), 0o755)
	os.MkdirAll(filepath.Join(e.top, "bin", "deep"), 0o755)
	e.write(map[string]string{"objs/x.o": "ignored", "untracked/dir/u.txt": "u", "nested/.git/HEAD": "ref: refs/heads/main\n"})
	e.ageChanged()
	if n := e.list(e.top); n == 0 {
		t.Fatal("the first listing did not run git")
	}
	if n := e.list(e.top); n != 0 {
		t.Fatalf("an unchanged work tree ran git %d times", n)
	}
	home := func(name string) string { return filepath.Join(e.home, name) }
	changes := []struct {
		name   string
		change func()
	}{
		{"a file added at the top", func() { e.write(map[string]string{"new.txt": "n"}) }},
		{"a file added deep in an untracked dir", func() { e.write(map[string]string{"untracked/dir/v.txt": "v"}) }},
		{"a file added to an empty dir in an empty dir", func() { e.write(map[string]string{"empty/inner/f": "f"}) }},
		{"a file added to an empty dir", func() { e.write(map[string]string{"empty/f": "f"}) }},
		{"a file added to a dir of ignored files only", func() { e.write(map[string]string{"objs/y.txt": "y"}) }},
		{"a file removed", func() { os.Remove(filepath.Join(e.top, "new.txt")) }},
		{"a file renamed into another dir", func() {
			os.Rename(filepath.Join(e.top, "untracked/dir/v.txt"), filepath.Join(e.top, "src/deep/v.txt"))
		}},
		{"a directory removed", func() { os.RemoveAll(filepath.Join(e.top, "empty")) }},
		{".gitignore edited in place", func() { appendFile(t, filepath.Join(e.top, ".gitignore"), "*.txt\n") }},
		{"a .gitignore added in a subdir", func() { e.write(map[string]string{"src/.gitignore": "deep/\n"}) }},
		{"a .gitignore in a subdir edited in place", func() { appendFile(t, filepath.Join(e.top, "src/.gitignore"), "!deep/\n") }},
		{"info/exclude written", func() { appendFile(t, filepath.Join(e.top, ".git/info/exclude"), "objs/\n") }},
		{"the global excludes file written", func() {
			os.MkdirAll(home(".config/git"), 0o755)
			os.WriteFile(home(".config/git/ignore"), []byte("untracked/\n"), 0o644)
		}},
		{"core.excludesFile set in the global config", func() {
			os.WriteFile(home("my-ignores"), []byte("src/\n"), 0o644)
			os.WriteFile(home(".gitconfig"), []byte("[core]\n\texcludesFile = ~/my-ignores\n"), 0o644)
		}},
		{"the file core.excludesFile names edited in place", func() { appendFile(t, home("my-ignores"), "!src/\n") }},
		{"the global config removed", func() { os.Remove(home(".gitconfig")) }},
		{"an ignored file added to the index", func() { wsGit(t, e.top, "add", "-f", "objs/x.o") }},
		{"a file removed from the index", func() { wsGit(t, e.top, "rm", "-q", "--cached", "tracked.txt") }},
		{"a file tracked in an ignored dir", func() {
			e.write(map[string]string{"bin/kept": "k"})
			wsGit(t, e.top, "add", "-f", "bin/kept")
		}},
		{"an untracked file beside it", func() { e.write(map[string]string{"bin/untracked": "u"}) }},
		{"a file added to an ignored dir made not ignored", func() {
			e.write(map[string]string{"bin/deep/tool": "t"})
			appendFile(t, filepath.Join(e.top, ".gitignore"), "!/bin/\n")
		}},
	}
	for _, c := range changes {
		c.change()
		e.ageChanged()
		if n := e.list(e.top); n == 0 {
			t.Fatalf("%s: git did not run", c.name)
		}
		if n := e.list(e.top); n != 0 {
			t.Fatalf("%s: the second listing ran git %d times", c.name, n)
		}
	}
	e.write(map[string]string{"bin/deep/other": "o"}) // in a dir git ignores no more: a change
	appendFile(t, filepath.Join(e.top, ".gitignore"), "/bin/\n")
	e.ageChanged()
	e.list(e.top)
	e.write(map[string]string{"bin/deep/ignored-now": "i"}) // inside an ignored dir: not a change
	e.ageChanged()
	if n := e.list(e.top); n != 0 {
		t.Errorf("a file added inside an ignored dir ran git %d times", n)
	}
}

// TestListingOfASubdir checks a checkout below the top of its work tree:
// the .gitignore files above it count.
func TestListingOfASubdir(t *testing.T) {
	e := newListingEnv(t)
	sub := filepath.Join(e.top, "src")
	e.ageChanged()
	e.list(sub)
	if n := e.list(sub); n != 0 {
		t.Fatalf("an unchanged checkout ran git %d times", n)
	}
	appendFile(t, filepath.Join(e.top, ".gitignore"), "deep/\n")
	e.ageChanged()
	if n := e.list(sub); n == 0 {
		t.Fatal("a .gitignore above the checkout changed and git did not run")
	}
}

// TestListingNotTrusted checks the cases in which no listing is kept or
// used: a change just before git ran, config pipe cannot follow, a listing
// file that is not one.
func TestListingNotTrusted(t *testing.T) {
	t.Run("racy", func(t *testing.T) {
		e := newListingEnv(t)
		e.ageChanged()
		e.write(map[string]string{"src/new.txt": "just now"}) // src's mtime: now
		e.list(e.top)
		if n := e.list(e.top); n == 0 {
			t.Fatal("a listing taken right after a change was trusted")
		}
	})
	t.Run("include", func(t *testing.T) {
		e := newListingEnv(t)
		os.WriteFile(filepath.Join(e.home, "more"), []byte("[core]\n"), 0o644)
		appendFile(t, filepath.Join(e.top, ".git/config"), "[include]\n\tpath = "+filepath.Join(e.home, "more")+"\n")
		e.ageChanged()
		e.list(e.top)
		if n := e.list(e.top); n == 0 {
			t.Fatal("a listing was kept although the config includes another file")
		}
	})
	t.Run("garbage", func(t *testing.T) {
		e := newListingEnv(t)
		e.ageChanged()
		e.list(e.top)
		for _, junk := range []string{"", listingHeader, listingHeader + "x y z\n", listingHeader + "e 1 1\nq 1 1 1 1 /x\x00"} {
			os.WriteFile(e.cache, []byte(junk), 0o644)
			if n := e.list(e.top); n == 0 {
				t.Fatalf("listing file %q was used", junk)
			}
		}
	})
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}
