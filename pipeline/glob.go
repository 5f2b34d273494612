package pipeline

import (
	"fmt"
	"path"
	"strings"
)

// MatchGlob reports whether name matches pattern. Both are slash-separated
// paths; each pattern segment follows path.Match (* and ? stay within one
// segment, [a-z] classes), and a segment ** matches any number of segments,
// none included. A malformed pattern matches nothing.
func MatchGlob(pattern, name string) bool {
	return matchSegs(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchSegs(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for len(pat) > 0 && pat[0] == "**" {
				pat = pat[1:]
			}
			if len(pat) == 0 {
				return true
			}
			for i := range name {
				if matchSegs(pat, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// checkGlob checks the syntax of a pattern: path.Match syntax per segment,
// ** only as a whole segment.
func checkGlob(pattern string) error {
	if pattern == "" {
		return fmt.Errorf("empty pattern")
	}
	for _, seg := range strings.Split(pattern, "/") {
		if strings.Contains(seg, "**") && seg != "**" {
			return fmt.Errorf("** must be a whole path segment, as in src/**/*.go")
		}
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("bad pattern %q: check [ ] and \\ escapes", seg)
		}
	}
	return nil
}

// checkWorkspaceGlob checks a glob of workspace paths: relative, clean, not
// leaving the workspace. It returns the pattern cleaned.
func checkWorkspaceGlob(pattern string) (string, error) {
	if path.IsAbs(pattern) {
		return "", fmt.Errorf("%q is absolute: write it relative to %s", pattern, Workspace)
	}
	clean := path.Clean(pattern)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", fmt.Errorf("%q leaves the workspace: write a path inside it", pattern)
	}
	if err := checkGlob(clean); err != nil {
		return "", err
	}
	return clean, nil
}
