package pipeline

import (
	"strconv"
	"strings"
)

// suggest returns the candidate closest to s when it is close enough to be a
// likely typo, else "".
func suggest(s string, candidates []string) string {
	best, bestD := "", -1
	limit := min(1+len(s)/4, 3)
	if len(s) < 3 {
		limit = 0 // every short name is one edit from another
	}
	for _, c := range candidates {
		if abs(len(c)-len(s)) > limit {
			continue
		}
		d := editDistance(strings.ToLower(s), strings.ToLower(c))
		if d <= limit && (bestD < 0 || d < bestD) {
			best, bestD = c, d
		}
	}
	return best
}

// didYouMean returns a hint naming the closest candidate, or fallback.
func didYouMean(s string, candidates []string, fallback string) string {
	if c := suggest(s, candidates); c != "" {
		return "did you mean " + quote(c) + "?"
	}
	return fallback
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of adjacent bytes cost 1.
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// quote quotes a name for a message the way a user would type it.
func quote(s string) string { return strconv.Quote(s) }
