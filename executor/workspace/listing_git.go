package workspace

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// What a listing needs to know from git besides its answer, and where git
// keeps what the answer depends on.

// gitEnvKey digests what git reads besides files: its binary, the
// environment it runs with, and the checkout.
func gitEnvKey(repo string) string {
	bin, _ := exec.LookPath("git")
	var vars []string
	for _, kv := range gitEnv() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || k == "XDG_CONFIG_HOME" || k == "PATH" || strings.HasPrefix(k, "GIT_") {
			vars = append(vars, kv)
		}
	}
	sort.Strings(vars)
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s", listingHeader, repo, bin)
	for _, kv := range vars {
		fmt.Fprintf(h, "\x00%s", kv)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// configWatcher finds the config and excludes files a listing depends on:
// the previous listing's when none of them changed, else from `git config`
// in the background.
type configWatcher struct {
	done  chan struct{}
	files []string
	ok    bool
}

// startConfigWatch starts finding the config files of repo; prev is the
// previous listing (nil if none).
func startConfigWatch(ctx context.Context, repo string, prev *listing, env string) *configWatcher {
	c := &configWatcher{done: make(chan struct{})}
	if prev != nil && prev.env == env && prev.configUnchanged() {
		c.files, c.ok = prev.config, true
		close(c.done)
		return c
	}
	go func() {
		defer close(c.done)
		b, err := gitOutput(ctx, repo, "config", "-z", "--list", "--show-origin")
		lay, ok := findGitLayout(repo)
		if err != nil || !ok {
			return
		}
		c.files, c.ok = configWatch(lay, parseGitConfigList(b))
	}()
	return c
}

// wait waits for the config files.
func (c *configWatcher) wait() { <-c.done }

// result returns the config files; false if a listing cannot be kept.
func (c *configWatcher) result() ([]string, bool) {
	<-c.done
	return c.files, c.ok
}

// gitConfigEntry is one entry of `git config --list --show-origin`.
type gitConfigEntry struct {
	origin, key, value string
}

// gitOutput runs git in repo as gitLsFiles does and returns its stdout.
func gitOutput(ctx context.Context, repo string, args ...string) ([]byte, error) {
	base := []string{"-C", repo, "-c", "core.fsmonitor=false", "-c", "safe.directory=*"}
	cmd := exec.CommandContext(ctx, "git", append(base, args...)...)
	cmd.Env = gitEnv()
	return cmd.Output()
}

// parseGitConfigList reads `git config -z --list --show-origin`:
// "origin NUL key [LF value] NUL" records.
func parseGitConfigList(b []byte) []gitConfigEntry {
	var out []gitConfigEntry
	f := bytes.Split(b, []byte{0})
	for i := 0; i+1 < len(f); i += 2 {
		k, v, _ := bytes.Cut(f[i+1], []byte("\n"))
		out = append(out, gitConfigEntry{origin: string(f[i]), key: strings.ToLower(string(k)), value: string(v)})
	}
	return out
}

// gitCheckIgnore returns which of paths (directories relative to repo) an
// ignore pattern matches: git does not read those.
func gitCheckIgnore(ctx context.Context, repo string, paths []string) (map[string]bool, error) {
	base := []string{"-C", repo, "-c", "core.fsmonitor=false", "-c", "safe.directory=*"}
	cmd := exec.CommandContext(ctx, "git", append(base, "check-ignore", "-z", "--stdin")...)
	cmd.Env = gitEnv()
	cmd.Stdin = strings.NewReader(strings.Join(paths, "\x00") + "\x00")
	b, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 { // none is ignored
		err = nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, p := range bytes.Split(b, []byte{0}) {
		if len(p) > 0 {
			out[string(p)] = true
		}
	}
	return out, nil
}

// gitLayout is where git keeps what a checkout's listing depends on.
type gitLayout struct {
	top       string // the top of the work tree
	gitDir    string // its git dir (the index)
	commonDir string // the common dir of worktrees (config, info/exclude)
}

// findGitLayout finds the git layout holding repo: the nearest .git above
// it, a directory or a file naming the git dir (worktrees, submodules).
func findGitLayout(repo string) (gitLayout, bool) {
	if os.Getenv("GIT_CEILING_DIRECTORIES") != "" {
		return gitLayout{}, false
	}
	for dir := repo; ; dir = filepath.Dir(dir) {
		fi, err := os.Lstat(filepath.Join(dir, ".git"))
		switch {
		case err == nil && fi.IsDir():
			g := filepath.Join(dir, ".git")
			return gitLayout{top: dir, gitDir: g, commonDir: g}, true
		case err == nil:
			return gitFileLayout(dir)
		case filepath.Dir(dir) == dir:
			return gitLayout{}, false
		}
	}
}

// gitFileLayout is the layout of the work tree at top whose .git is a file
// naming the git dir; a worktree's git dir names the common one.
func gitFileLayout(top string) (gitLayout, bool) {
	gitDir, ok := findGitDir(top)
	if fi, err := os.Stat(gitDir); !ok || err != nil || !fi.IsDir() {
		return gitLayout{}, false
	}
	lay := gitLayout{top: top, gitDir: gitDir, commonDir: gitDir}
	if b, err := os.ReadFile(filepath.Join(gitDir, "commondir")); err == nil {
		c := strings.TrimSpace(string(b))
		if !filepath.IsAbs(c) {
			c = filepath.Join(gitDir, c)
		}
		lay.commonDir = filepath.Clean(c)
	}
	return lay, true
}

// configWatch returns the config and excludes files a listing depends on;
// false for config it cannot follow.
func configWatch(lay gitLayout, cfg []gitConfigEntry) ([]string, bool) {
	home, xdg := os.Getenv("HOME"), os.Getenv("XDG_CONFIG_HOME")
	if xdg == "" && home != "" {
		xdg = filepath.Join(home, ".config")
	}
	files := []string{"/etc/gitconfig", filepath.Join(lay.commonDir, "config"), filepath.Join(lay.gitDir, "config.worktree")}
	for _, v := range []string{"GIT_CONFIG_SYSTEM", "GIT_CONFIG_GLOBAL"} {
		if p := os.Getenv(v); p != "" {
			files = append(files, p)
		}
	}
	excludes := ""
	if xdg != "" {
		files = append(files, filepath.Join(xdg, "git", "config"))
		excludes = filepath.Join(xdg, "git", "ignore")
	}
	if home != "" {
		files = append(files, filepath.Join(home, ".gitconfig"))
	}
	for _, e := range cfg {
		switch {
		case strings.HasPrefix(e.key, "include.") || strings.HasPrefix(e.key, "includeif."),
			e.key == "core.worktree", e.key == "core.bare" && e.value == "true":
			return nil, false
		case e.key == "core.excludesfile":
			excludes = e.value
		}
		if p, ok := strings.CutPrefix(e.origin, "file:"); ok {
			if !filepath.IsAbs(p) {
				p = filepath.Join(lay.top, p)
			}
			files = append(files, p)
		}
	}
	if rest, ok := strings.CutPrefix(excludes, "~"); ok {
		if !strings.HasPrefix(rest, "/") || home == "" {
			return nil, false // ~user/...: git's expansion, not ours
		}
		excludes = home + rest
	}
	if excludes != "" {
		if !filepath.IsAbs(excludes) {
			excludes = filepath.Join(lay.top, excludes)
		}
		files = append(files, excludes)
	}
	return files, true
}
