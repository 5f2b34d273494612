package workspace

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// A listing is git's answer to `git ls-files --cached --others
// --exclude-standard` in a checkout, kept between runs (next to the hash
// cache) with the stat of everything the answer depends on, so that a run in
// which none of it changed reuses the answer instead of starting git (a
// process of its own: a few ms, the largest part of a cached run). It is
// git's untracked cache, kept by pipe:
//   - the index (what is tracked);
//   - every directory git reads to find untracked files: the checkout's
//     directories that are not ignored, whose mtime changes when an entry
//     is added, removed or renamed in them; a file changed in place does not
//     change the answer;
//   - what says what is ignored: each .gitignore in those directories and in
//     the directories above the checkout up to the top of the work tree,
//     info/exclude, the global excludes file, and the config files (which
//     may name another excludes file);
//   - the git binary and the environment git reads (HOME, XDG_CONFIG_HOME,
//     PATH, GIT_*).
//
// Soundness rests on directory mtimes, so listings are kept only on local
// filesystems known to keep them (localFS), and entries modified shortly
// before git ran are not trusted (listingRacyWindow), as git does not trust
// racily clean index entries. Config that pipe cannot follow (include
// directives, core.worktree, a bare repository) keeps no listing: git runs
// every time, as before.
type listing struct {
	env     string // gitEnvKey when git listed
	taken   int64  // unix ns, just before git ran
	watched []watchedStat
	config  []string // the config and excludes files among watched (configWatch)
	out     []byte   // git ls-files -z output
}

// watchedStat is the stat of one path a listing depends on.
type watchedStat struct {
	path    string // absolute
	dir     bool   // a work tree directory: lstat (git does not follow symlinks); else stat
	missing bool
	stat    statKey
}

// listingRacyWindow: a watched path modified less than this before git ran
// may have changed again within its timestamp's granularity (or under a
// coarse clock) after git read it, so a listing holding one is not kept.
const listingRacyWindow = 2 * time.Second

// listingPath is where the listing of the checkout whose hash cache is at
// hashCache is kept; "" for none.
func listingPath(hashCache string) string {
	if hashCache == "" {
		return ""
	}
	return hashCache + ".listing"
}

// gitListFiles returns git's listing of repo: from the listing kept at
// cachePath when nothing it depends on changed, else from git. In the
// second case it goes on finding what the listing depends on (a walk of the
// directories, and git for what it cannot tell) in the background, while
// the caller hashes the files; keep waits for that and keeps the listing for
// the next run when it can be kept. keep is never nil; call it once,
// whatever err is.
func gitListFiles(ctx context.Context, repo, cachePath string) (out []byte, keep func(), err error) {
	none := func() {}
	if !gitEntryAbove(repo) {
		return nil, none, errNotGit // what git would say, without starting it
	}
	if cachePath == "" {
		out, err = gitLsFiles(ctx, repo)
		return out, none, err
	}
	if _, inGit := findGitDir(repo); !inGit {
		out, err = gitLsFiles(ctx, repo) // errNotGit, or git knows better
		return out, none, err
	}
	env := gitEnvKey(repo)
	prev, _ := loadListing(cachePath)
	if prev != nil && prev.env == env && prev.unchanged() {
		return prev.out, none, nil
	}
	taken := time.Now()
	cfg := startConfigWatch(ctx, repo, prev, env)
	out, err = gitLsFiles(ctx, repo)
	if err != nil {
		return nil, cfg.wait, err
	}
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		if l, ok := buildListing(ctx, repo, env, taken, out, cfg); ok {
			_ = l.save(cachePath) // only a cache: git runs again next time
		}
	}()
	return out, func() { <-kept }, nil
}

// unchanged reports whether every watched path has the stat it had.
func (l *listing) unchanged() bool {
	for i := range l.watched {
		if !l.watched[i].unchanged() {
			return false
		}
	}
	return true
}

// configUnchanged reports whether l's config files have the stat they had:
// then what they say is the same.
func (l *listing) configUnchanged() bool {
	if len(l.config) == 0 {
		return false
	}
	cfg := map[string]bool{}
	for _, p := range l.config {
		cfg[p] = true
	}
	for i := range l.watched {
		if w := &l.watched[i]; cfg[w.path] && !w.unchanged() {
			return false
		}
	}
	return true
}

// unchanged reports whether w's path still has w's stat (or is still missing).
func (w *watchedStat) unchanged() bool {
	fi, err := w.statNow()
	if err != nil {
		return w.missing && errors.Is(err, fs.ErrNotExist)
	}
	return !w.missing && statKeyOf(fi) == w.stat
}

// statNow stats w's path the way w was recorded.
func (w *watchedStat) statNow() (fs.FileInfo, error) {
	if w.dir {
		return os.Lstat(w.path)
	}
	return os.Stat(w.path)
}

// buildListing builds the listing of repo from git's answer out; ok is
// false when it cannot be kept (see listing).
func buildListing(ctx context.Context, repo, env string, taken time.Time, out []byte, cfg *configWatcher) (*listing, bool) {
	config, cfgOK := cfg.result()
	lay, ok := findGitLayout(repo)
	if !ok || !cfgOK || !localFS(repo) {
		return nil, false
	}
	dirs, ignores, err := watchedDirs(ctx, lay.top, repo, out)
	if err != nil {
		return nil, false
	}
	files := append([]string{filepath.Join(lay.gitDir, "index"), filepath.Join(lay.commonDir, "info", "exclude")}, config...)
	if bin, err := exec.LookPath("git"); err == nil {
		files = append(files, bin)
	}
	l := &listing{env: env, taken: taken.UnixNano(), out: out, config: config}
	for _, d := range dirs {
		l.watched = append(l.watched, watchedStat{path: d, dir: true})
	}
	for _, f := range append(files, ignores...) {
		l.watched = append(l.watched, watchedStat{path: f})
	}
	return l, l.record()
}

// record stats every watched path now; false if one cannot be trusted yet
// (modified within listingRacyWindow of the listing, or unreadable).
func (l *listing) record() bool {
	for i := range l.watched {
		w := &l.watched[i]
		fi, err := w.statNow()
		switch {
		case errors.Is(err, fs.ErrNotExist):
			w.missing = true
			continue
		case err != nil:
			return false
		}
		w.stat = statKeyOf(fi)
		if w.stat.mtime > l.taken-int64(listingRacyWindow) {
			return false
		}
	}
	return true
}

// watchedDirs returns the directories git reads to list repo's untracked
// files, the directories from the work tree's top down to repo's parent,
// and every .gitignore among them. git reads repo and every directory under
// it that is not ignored, .git and nested repositories left out. A
// directory holding a path of git's answer out is read (or, when it is
// ignored and holds tracked files, watched for nothing); whether one
// holding none is ignored, git check-ignore says, a level at a time.
func watchedDirs(ctx context.Context, top, repo string, out []byte) (dirs, ignores []string, err error) {
	for d := filepath.Dir(repo); strings.HasPrefix(d, top); d = filepath.Dir(d) {
		dirs = append(dirs, d)
		ignores = append(ignores, filepath.Join(d, ".gitignore"))
		if d == top || d == filepath.Dir(d) {
			break
		}
	}
	listed := listedDirs(out)
	todo := []string{""}
	for len(todo) > 0 {
		var unknown []string
		for len(todo) > 0 {
			rel := todo[len(todo)-1]
			todo = todo[:len(todo)-1]
			dir := filepath.Join(repo, filepath.FromSlash(rel))
			ents, err := os.ReadDir(dir)
			if err != nil {
				return nil, nil, err
			}
			if rel != "" && hasEntry(ents, ".git") {
				continue // a nested repository: git does not read it (the snapshot walks it)
			}
			dirs = append(dirs, dir)
			for _, e := range ents {
				sub := path.Join(rel, e.Name())
				switch {
				case e.Name() == ".gitignore":
					ignores = append(ignores, filepath.Join(dir, e.Name()))
				case !e.IsDir() || e.Name() == ".git":
				case listed[sub]:
					todo = append(todo, sub)
				default:
					unknown = append(unknown, sub)
				}
			}
		}
		if len(unknown) > 0 {
			ignored, err := gitCheckIgnore(ctx, repo, unknown)
			if err != nil {
				return nil, nil, err
			}
			for _, u := range unknown {
				if !ignored[u] {
					todo = append(todo, u)
				}
			}
		}
	}
	return dirs, ignores, nil
}

// listedDirs returns the directories holding a path of git's answer out.
func listedDirs(out []byte) map[string]bool {
	dirs := map[string]bool{}
	for len(out) > 0 {
		i := bytes.IndexByte(out, 0)
		if i < 0 {
			i = len(out)
		}
		p := strings.TrimSuffix(string(out[:i]), "/")
		out = out[min(i+1, len(out)):]
		for j := strings.LastIndexByte(p, '/'); j > 0 && !dirs[p[:j]]; j = strings.LastIndexByte(p[:j], '/') {
			dirs[p[:j]] = true
		}
	}
	return dirs
}

// hasEntry reports whether ents holds name.
func hasEntry(ents []fs.DirEntry, name string) bool {
	for _, e := range ents {
		if e.Name() == name {
			return true
		}
	}
	return false
}
