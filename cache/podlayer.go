package cache

import (
	"errors"
	"fmt"
	"path"
	"sort"
)

// The pod layer functions move a workspace through a registry as OCI layers
// when a step runs in a pod rather than in one of pipe's own containers:
//
//   - ApplyLayer applies a layer onto a plain directory tree (whiteouts
//     remove, opaque markers clear), where the extractor writes overlay form;
//   - IndexTree records the tree's metadata once the layers are applied;
//   - DiffTree writes, after the step, the layer of what changed since the
//     index: the step's output layer, in the same form as layerTar's.
//
// They are the two ends of executor/podagent; the coordinator reads the diff
// back with the extractor like any other output layer.

// ErrIndexVersion is a tree index written in a form this pipe cannot read.
var ErrIndexVersion = errors.New("tree index of an unknown version")

// TreeEntry is what a TreeIndex records of one path. Times are nanoseconds
// since the Unix epoch; Mode holds the type bits (S_IFMT) and the
// permission bits, as stat(2) gives them.
type TreeEntry struct {
	Path         string // clean, relative to the tree's root, "/"-separated
	Mode         uint32
	UID, GID     uint32
	Size         int64
	Mtime, Ctime int64
	Ino          uint64
	Link         string // a symlink's target
}

// TreeIndex is the metadata of every path of a tree at one moment (the
// tree's root itself excluded), as IndexTree read it: enough to tell, like
// git's index, which paths changed later without reading any content. It is
// read-only once made, and safe for concurrent readers.
type TreeIndex struct {
	entries  map[string]*TreeEntry
	children map[string][]string // dir path ("" for the root) -> sorted base names
}

// newTreeIndex indexes the entries (in any order).
func newTreeIndex(entries []TreeEntry) (*TreeIndex, error) {
	idx := &TreeIndex{entries: make(map[string]*TreeEntry, len(entries)), children: map[string][]string{}}
	for i := range entries {
		e := &entries[i]
		if err := checkIndexPath(e.Path); err != nil {
			return nil, err
		}
		if _, dup := idx.entries[e.Path]; dup {
			return nil, fmt.Errorf("tree index: path %q appears twice", e.Path)
		}
		idx.entries[e.Path] = e
		dir, base := path.Split(e.Path)
		dir = path.Clean("/" + dir)[1:]
		idx.children[dir] = append(idx.children[dir], base)
	}
	for _, names := range idx.children {
		sort.Strings(names)
	}
	return idx, nil
}

// checkIndexPath refuses a path that is not clean and relative.
func checkIndexPath(p string) error {
	if p == "" || p == "." || path.Clean(p) != p || path.IsAbs(p) || p == ".." || len(p) > 2 && p[:3] == "../" {
		return fmt.Errorf("tree index: bad path %q", p)
	}
	return nil
}

// Len is the number of paths recorded.
func (idx *TreeIndex) Len() int { return len(idx.entries) }

// Entry is the record of the path p (clean, relative), if any.
func (idx *TreeIndex) Entry(p string) (TreeEntry, bool) {
	e, ok := idx.entries[p]
	if !ok {
		return TreeEntry{}, false
	}
	return *e, true
}

// Entries lists every record, sorted by path.
func (idx *TreeIndex) Entries() []TreeEntry {
	out := make([]TreeEntry, 0, len(idx.entries))
	for _, e := range idx.entries {
		out = append(out, *e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// childrenOf is the sorted base names recorded in the dir p ("" the root).
func (idx *TreeIndex) childrenOf(p string) []string { return idx.children[p] }
