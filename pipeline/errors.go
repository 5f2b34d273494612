package pipeline

import (
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a pipeline file. Line and Col count from 1.
type Pos struct {
	File string
	Line int
	Col  int
}

// String returns file:line:col.
func (p Pos) String() string {
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// before orders positions by file, line and column.
func (p Pos) before(q Pos) bool {
	if p.File != q.File {
		return p.File < q.File
	}
	if p.Line != q.Line {
		return p.Line < q.Line
	}
	return p.Col < q.Col
}

// Error is one problem in a pipeline file: where it is, what is wrong and,
// when pipe knows, what to do about it.
type Error struct {
	Pos  Pos
	Msg  string // what is wrong
	Hint string // what to do; may be empty
}

// Error returns "file:line:col: what is wrong (what to do)".
func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Pos.String() + ": " + e.Msg
	}
	return e.Pos.String() + ": " + e.Msg + " (" + e.Hint + ")"
}

// ErrorList is every problem found in a pipeline file. Parse and Load return
// it sorted by position, without duplicates; use errors.As to get it.
type ErrorList []*Error

// Error prints the problems one per line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Len returns the number of problems.
func (l ErrorList) Len() int { return len(l) }

// sorted returns the list sorted by position then message, without duplicates
// (a matrix step repeats the problems of the step it was expanded from).
func (l ErrorList) sorted() ErrorList {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.Pos != b.Pos {
			return a.Pos.before(b.Pos)
		}
		if a.Msg != b.Msg {
			return a.Msg < b.Msg
		}
		return a.Hint < b.Hint
	})
	out := l[:0]
	for i, e := range l {
		if i > 0 && *e == *l[i-1] {
			continue
		}
		out = append(out, e)
	}
	return out
}

// err returns the list as an error, or nil when it is empty.
func (l ErrorList) err() error {
	if len(l) == 0 {
		return nil
	}
	return l.sorted()
}
