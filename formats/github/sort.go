package github

import (
	"sort"

	"github.com/pipe-run/pipe/pipeline"
)

func sortStrings(s []string) { sort.Strings(s) }

func sortErrors(l pipeline.ErrorList) {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i].Pos, l[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}
