package github

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
)

// hashFiles is GitHub's hashFiles(): the SHA-256 of the SHA-256 of each
// repository file matching the patterns, in path order; "" when none does.
func (t *translator) hashFiles(patterns []string) (string, error) {
	key := strings.Join(patterns, "\x00")
	if h, ok := t.hashes[key]; ok {
		return h, nil
	}
	if t.ctx.Glob == nil || t.ctx.ReadFile == nil {
		return "", fmt.Errorf("hashFiles(): the repository's files are not available here")
	}
	seen := map[string]bool{}
	var files []string
	for _, p := range patterns {
		p = strings.TrimPrefix(p, "./")
		if neg, ok := strings.CutPrefix(p, "!"); ok {
			m, err := t.ctx.Glob(neg)
			if err != nil {
				return "", fmt.Errorf("hashFiles(%q): %v", p, err)
			}
			for _, f := range m {
				seen[f] = false
			}
			continue
		}
		m, err := t.ctx.Glob(p)
		if err != nil {
			return "", fmt.Errorf("hashFiles(%q): %v", p, err)
		}
		for _, f := range m {
			if _, done := seen[f]; !done {
				seen[f] = true
				files = append(files, f)
			}
		}
	}
	sort.Strings(files)
	all := sha256.New()
	n := 0
	for _, f := range files {
		if !seen[f] {
			continue
		}
		data, err := t.ctx.ReadFile(f)
		if err != nil {
			continue // a directory, or unreadable: GitHub skips it too
		}
		h := sha256.Sum256(data)
		all.Write(h[:])
		n++
	}
	out := ""
	if n > 0 {
		out = hex.EncodeToString(all.Sum(nil))
	}
	t.hashes[key] = out
	return out, nil
}
