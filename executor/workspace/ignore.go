package workspace

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// PipeIgnoreFile is the file at the root of a repo that lists, in gitignore
// syntax, files to leave out of the workspace snapshot even though git would
// commit them.
const PipeIgnoreFile = ".pipeignore"

// globPattern is one compiled gitignore-style pattern.
type globPattern struct {
	re       *globMatcher
	negate   bool // "!pattern": re-include
	dirOnly  bool // "pattern/": directories only
	basename bool // no "/" in the pattern: matches the last path element at any depth
}

// ignoreList is an ordered list of patterns: the last one that matches wins.
//
// It implements the common subset of gitignore(5): blank lines and "#"
// comments; "\#", "\!" and "\ " escapes; trailing spaces trimmed; "!" to
// negate; a trailing "/" for directories only; a pattern with a "/" at the
// start or in the middle is anchored at the repo root, one without matches a
// name at any depth; "*", "?", "[...]" (with "!" or "^" to negate a class);
// "**/" at the start, "/**" at the end and "/**/" in the middle. As in git, a
// file cannot be re-included when one of its parent directories is excluded.
// Not supported: .pipeignore files in subdirectories (only the root one is
// read).
type ignoreList struct {
	patterns []globPattern
	dirs     map[string]bool // memo: is this directory excluded?
}

// loadPipeIgnore reads repo/.pipeignore; a missing file is an empty list.
func loadPipeIgnore(repo string) (*ignoreList, error) {
	f, err := os.Open(filepath.Join(repo, PipeIgnoreFile))
	if errors.Is(err, fs.ErrNotExist) {
		return &ignoreList{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", PipeIgnoreFile, err)
	}
	defer f.Close()
	l := &ignoreList{dirs: map[string]bool{}}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		p, ok, err := parsePattern(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", filepath.Join(repo, PipeIgnoreFile), n, err)
		}
		if ok {
			l.patterns = append(l.patterns, p)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", PipeIgnoreFile, err)
	}
	return l, nil
}

// parsePattern compiles one line; ok is false for blank lines and comments.
func parsePattern(line string) (p globPattern, ok bool, err error) {
	line = strings.TrimSuffix(line, "\r")
	line = trimUnescapedSpaces(line)
	if line == "" || line[0] == '#' {
		return p, false, nil
	}
	if line[0] == '!' {
		p.negate, line = true, line[1:]
	} else if strings.HasPrefix(line, `\!`) || strings.HasPrefix(line, `\#`) {
		line = line[1:]
	}
	if strings.HasSuffix(line, "/") {
		p.dirOnly, line = true, strings.TrimRight(line, "/")
	}
	if line == "" {
		return p, false, nil
	}
	p.basename = !strings.Contains(line, "/")
	p.re, err = newGlobMatcher(strings.TrimPrefix(line, "/"), false)
	return p, err == nil, err
}

// trimUnescapedSpaces removes trailing spaces not preceded by a backslash.
func trimUnescapedSpaces(s string) string {
	for strings.HasSuffix(s, " ") && !strings.HasSuffix(s, `\ `) {
		s = s[:len(s)-1]
	}
	return s
}

// match reports whether the last pattern matching name (a file or, with
// isDir, a directory; slash-separated, relative to the root) excludes it.
func (l *ignoreList) match(name string, isDir bool) bool {
	excluded := false
	base := path.Base(name)
	for _, p := range l.patterns {
		if p.dirOnly && !isDir {
			continue
		}
		target := name
		if p.basename {
			target = base
		}
		if p.re.match(target) {
			excluded = !p.negate
		}
	}
	return excluded
}

// excluded reports whether file name is excluded, itself or by a parent dir.
func (l *ignoreList) excluded(name string) bool {
	if l == nil || len(l.patterns) == 0 {
		return false
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' && l.dirExcluded(name[:i]) {
			return true
		}
	}
	return l.match(name, false)
}

// dirExcluded reports whether directory dir is excluded (memoised; parents
// are checked by the caller in order).
func (l *ignoreList) dirExcluded(dir string) bool {
	if v, ok := l.dirs[dir]; ok {
		return v
	}
	v := l.match(dir, true)
	if l.dirs == nil {
		l.dirs = map[string]bool{}
	}
	l.dirs[dir] = v
	return v
}
