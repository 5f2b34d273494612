package workspace

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// listFiles returns what git would commit under repo, as sorted
// slash-separated paths relative to repo: tracked and untracked-not-ignored
// files (`git ls-files --cached --others --exclude-standard`). Outside a git
// work tree (or without git) it is every file under repo except .git. Either
// way, paths .pipeignore excludes are left out. Tracked files deleted from
// the work tree are still listed here; the snapshot skips them. Directories
// git lists as one entry (submodules, nested repos) are walked by expandDir.
// git's answer is kept at listingCache ("" for none) and reused while
// nothing it depends on changes (see listing); keep finishes keeping it
// (see gitListFiles): call it once, whatever err is.
func listFiles(ctx context.Context, repo string, ign *ignoreList, listingCache string) (paths []string, keep func(), err error) {
	out, keep, err := gitListFiles(ctx, repo, listingCache)
	switch {
	case errors.Is(err, errNotGit):
		paths, err = walkFiles(repo, "", ign)
		return paths, keep, err
	case err != nil:
		return nil, keep, err
	}
	// One string for all the names (each a substring of it), the list sized
	// ahead: a warm run reads ~1k names this way, and every allocation of
	// fresh memory is page faults.
	all := string(out)
	paths = make([]string, 0, strings.Count(all, "\x00")+1)
	for p := range strings.SplitSeq(all, "\x00") {
		if p == "" {
			continue
		}
		name := strings.TrimSuffix(p, "/")
		if !ign.excluded(name) && !isGitPath(name) {
			paths = append(paths, name)
		}
	}
	sort.Strings(paths)
	return dedupSorted(paths), keep, nil
}

// errNotGit says repo is not in a git work tree (or git is not installed).
var errNotGit = errors.New("not a git work tree")

// gitLsFiles runs git ls-files in repo. It disables the fsmonitor hook (the
// only way ls-files runs code from the repo's config) and trusts the repo
// whoever owns it (`sudo pipe run` in a user's checkout is the normal case).
func gitLsFiles(ctx context.Context, repo string) ([]byte, error) {
	if _, err := exec.LookPath("git"); err != nil {
		return nil, errNotGit
	}
	git := func(args ...string) *exec.Cmd {
		base := []string{"-C", repo, "-c", "core.fsmonitor=false", "-c", "safe.directory=*"}
		cmd := exec.CommandContext(ctx, "git", append(base, args...)...)
		cmd.Env = gitEnv()
		return cmd
	}
	var stderr bytes.Buffer
	cmd := git("ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if strings.Contains(stderr.String(), "not a git repository") {
			return nil, errNotGit
		}
		return nil, fmt.Errorf("list files of %s with git ls-files: %w: %s", repo, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// gitEnv is the environment minus variables that would point git elsewhere
// (set when pipe runs from a git hook).
func gitEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_PREFIX", "GIT_COMMON_DIR":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GIT_OPTIONAL_LOCKS=0", "LC_ALL=C")
}

// walkFiles lists every file and symlink under repo/sub except .git and what
// ign excludes (excluded directories are not entered).
func walkFiles(repo, sub string, ign *ignoreList) ([]string, error) {
	var paths []string
	root := filepath.Join(repo, filepath.FromSlash(sub))
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", repo, err)
		}
		rel, err := filepath.Rel(repo, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if d.Name() == ".git" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if ign.dirExcludedPath(rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if !ign.excluded(rel) {
			paths = append(paths, rel)
		}
		return nil
	})
	return paths, err
}

// dirExcludedPath reports whether directory rel or one of its parents is
// excluded.
func (l *ignoreList) dirExcludedPath(rel string) bool {
	if l == nil || len(l.patterns) == 0 {
		return false
	}
	for i := 0; i < len(rel); i++ {
		if rel[i] == '/' && l.dirExcluded(rel[:i]) {
			return true
		}
	}
	return l.dirExcluded(rel)
}

// isGitPath reports a path inside a .git directory (never in a snapshot).
func isGitPath(name string) bool {
	return name == ".git" || strings.HasPrefix(name, ".git/") || strings.Contains(name, "/.git/") || strings.HasSuffix(name, "/.git")
}

// dedupSorted removes adjacent duplicates.
func dedupSorted(s []string) []string {
	w := 0
	for i, v := range s {
		if i == 0 || v != s[w-1] {
			s[w] = v
			w++
		}
	}
	return s[:w]
}

// HeadBranch returns what `git rev-parse --abbrev-ref HEAD` prints in repo
// ("HEAD" when detached), read from the repository's HEAD file without
// running git: "" outside a git work tree (no .git in repo or above it,
// where git finds none either). ok is false when it cannot tell (GIT_DIR
// set, a .git it cannot follow, a HEAD it does not understand): then ask
// git.
func HeadBranch(repo string) (branch string, ok bool) {
	if os.Getenv("GIT_DIR") != "" {
		return "", false
	}
	if !gitEntryAbove(repo) {
		return "", true
	}
	dir, ok := findGitDir(repo)
	if !ok {
		return "", false
	}
	b, err := os.ReadFile(filepath.Join(dir, "HEAD"))
	if err != nil {
		return "", false
	}
	head := strings.TrimSpace(string(b))
	if ref, isRef := strings.CutPrefix(head, "ref: refs/heads/"); isRef && ref != "" {
		return ref, true
	}
	if (len(head) == 40 || len(head) == 64) && strings.Trim(head, "0123456789abcdef") == "" {
		return "HEAD", true
	}
	return "", false
}

// gitEntryAbove reports whether dir or a directory above it holds a .git
// entry: without one, git finds no repository there (it looks for .git
// the same way) and a git command in dir can only fail.
func gitEntryAbove(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return true // let git tell
	}
	for {
		if _, err := os.Lstat(filepath.Join(dir, ".git")); !errors.Is(err, fs.ErrNotExist) {
			return true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		dir = parent
	}
}

// findGitDir finds the git dir of the work tree holding dir: the nearest
// .git directory above it, or the directory a .git file (worktrees,
// submodules) names.
func findGitDir(dir string) (string, bool) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	for {
		p := filepath.Join(dir, ".git")
		if fi, err := os.Stat(p); err == nil {
			if fi.IsDir() {
				return p, true
			}
			b, err := os.ReadFile(p)
			target, isLink := strings.CutPrefix(strings.TrimSpace(string(b)), "gitdir: ")
			if err != nil || !isLink {
				return "", false
			}
			if !filepath.IsAbs(target) {
				target = filepath.Join(dir, target)
			}
			return target, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}
