package gitlab

import (
	"bytes"
	"errors"
	"sort"

	"github.com/pipe-run/pipe/pipeline"
	"gopkg.in/yaml.v3"
)

// emitter builds the .pipe.yml document as yaml.v3 nodes and remembers,
// for each node, the position in the GitLab files it came from, so that an
// error pipeline.Parse finds in the document points at the original.
type emitter struct {
	origin map[*yaml.Node]pipeline.Pos
}

func newEmitter() *emitter { return &emitter{origin: map[*yaml.Node]pipeline.Pos{}} }

func (e *emitter) at(n *yaml.Node, p pipeline.Pos) *yaml.Node {
	if p.Line > 0 {
		e.origin[n] = p
	}
	return n
}

func (e *emitter) mapping(p pipeline.Pos) *yaml.Node {
	return e.at(&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}, p)
}

// add appends key: v to m; the key gets v's origin unless it has one.
func (e *emitter) add(m *yaml.Node, key string, v *yaml.Node, p pipeline.Pos) {
	k := e.at(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, p)
	m.Content = append(m.Content, k, v)
}

// str is a string scalar: a literal block when it spans lines.
func (e *emitter) str(s string, p pipeline.Pos) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if bytes.ContainsRune([]byte(s), '\n') {
		n.Style = yaml.LiteralStyle
	}
	return e.at(n, p)
}

func (e *emitter) scalar(tag, s string, p pipeline.Pos) *yaml.Node {
	return e.at(&yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: s}, p)
}

// list is a flow list of strings.
func (e *emitter) list(items []string, p pipeline.Pos) *yaml.Node {
	n := e.at(&yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}, p)
	n.Content = []*yaml.Node{}
	for _, s := range items {
		n.Content = append(n.Content, e.str(s, p))
	}
	return n
}

// encode writes the document.
func encode(root *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// posMap maps positions of the written document to the original ones.
type posMap struct {
	entries []posEntry // sorted by line, col
}

type posEntry struct {
	line, col int
	orig      pipeline.Pos
}

// mapPositions reads the written document back and pairs its nodes with the
// built ones, which have the same shape.
func (e *emitter) mapPositions(built *yaml.Node, text []byte) *posMap {
	var doc yaml.Node
	m := &posMap{}
	if err := yaml.Unmarshal(text, &doc); err != nil || len(doc.Content) == 0 {
		return m
	}
	var walk func(b, r *yaml.Node, last pipeline.Pos)
	walk = func(b, r *yaml.Node, last pipeline.Pos) {
		if p, ok := e.origin[b]; ok {
			last = p
		}
		if last.Line > 0 {
			m.entries = append(m.entries, posEntry{line: r.Line, col: r.Column, orig: last})
		}
		for i := 0; i < len(b.Content) && i < len(r.Content); i++ {
			walk(b.Content[i], r.Content[i], last)
		}
	}
	walk(built, doc.Content[0], pipeline.Pos{})
	sort.SliceStable(m.entries, func(i, j int) bool {
		a, b := m.entries[i], m.entries[j]
		return a.line < b.line || a.line == b.line && a.col < b.col
	})
	return m
}

// lookup returns the original position of a written one: the node that
// starts there, else the last one before it.
func (m *posMap) lookup(line, col int) (pipeline.Pos, bool) {
	i := sort.Search(len(m.entries), func(i int) bool {
		e := m.entries[i]
		return e.line > line || e.line == line && e.col > col
	})
	if i == 0 {
		return pipeline.Pos{}, false
	}
	return m.entries[i-1].orig, true
}

// mapErrors moves the errors of pipeline.Parse to the original positions.
func mapErrors(err error, m *posMap, file string) error {
	var list pipeline.ErrorList
	if !errors.As(err, &list) {
		return err
	}
	out := make(pipeline.ErrorList, 0, len(list))
	for _, e := range list {
		c := *e
		if p, ok := m.lookup(e.Pos.Line, e.Pos.Col); ok {
			c.Pos = p
		} else {
			c.Pos = pipeline.Pos{File: file, Line: 1, Col: 1}
		}
		out = append(out, &c)
	}
	return sortErrors(out)
}
