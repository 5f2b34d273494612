package github

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/pipe-run/pipe/pipeline"
	"gopkg.in/yaml.v3"
)

// decoder reads yaml.v3 nodes of one file and collects problems at their
// positions.
type decoder struct {
	file   string
	errs   *pipeline.ErrorList
	warns  *pipeline.ErrorList
	budget *int // mapping entries left to visit: aliases can repeat a mapping exponentially often
}

type entry struct {
	key  string
	k, v *yaml.Node
}

func (d *decoder) pos(n *yaml.Node) pipeline.Pos {
	if n == nil || n.Line == 0 {
		return pipeline.Pos{File: d.file, Line: 1, Col: 1}
	}
	return pipeline.Pos{File: d.file, Line: n.Line, Col: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, hint, format string, args ...any) {
	*d.errs = append(*d.errs, &pipeline.Error{Pos: d.pos(n), Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func (d *decoder) warnf(n *yaml.Node, hint, format string, args ...any) {
	*d.warns = append(*d.warns, &pipeline.Error{Pos: d.pos(n), Msg: fmt.Sprintf(format, args...), Hint: hint})
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	n = deref(n)
	return n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	n = deref(n)
	switch {
	case isNull(n):
		return "nothing"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	}
	return "a scalar"
}

// mapping returns the entries of a mapping in file order; duplicate keys
// are reported. Anything else is reported and gives nil.
func (d *decoder) mapping(n *yaml.Node, field string) []entry {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		d.errorf(n, "write a mapping of key: value", "%s: expected a mapping, found %s", field, kindName(n))
		return nil
	}
	if *d.budget -= len(n.Content) / 2; *d.budget < 0 {
		if *d.budget+len(n.Content)/2 >= 0 {
			d.errorf(n, "use fewer aliases, or split the workflow", "%s: the workflow is too large once its aliases are expanded", field)
		}
		return nil
	}
	seen := map[string]*yaml.Node{}
	var out []entry
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "use a plain name as key", "%s: a key must be a string", field)
			continue
		}
		if prev, dup := seen[k.Value]; dup {
			d.errorf(k, fmt.Sprintf("the first is at line %d; remove one", prev.Line), "%s: duplicate key %q", field, k.Value)
			continue
		}
		seen[k.Value] = k
		out = append(out, entry{key: k.Value, k: k, v: v})
	}
	return out
}

// str returns a scalar's text.
func (d *decoder) str(n *yaml.Node, field string) (string, bool) {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode || isNull(n) {
		d.errorf(n, "write a string", "%s: expected a string, found %s", field, kindName(n))
		return "", false
	}
	return n.Value, true
}

// strs returns a string or a list of strings.
func (d *decoder) strs(n *yaml.Node, field string) ([]string, []*yaml.Node) {
	n = deref(n)
	if n != nil && n.Kind == yaml.ScalarNode && !isNull(n) {
		return []string{n.Value}, []*yaml.Node{n}
	}
	if n == nil || n.Kind != yaml.SequenceNode {
		d.errorf(n, "write a string or a list of strings", "%s: expected a list of strings, found %s", field, kindName(n))
		return nil, nil
	}
	var out []string
	var nodes []*yaml.Node
	for _, c := range n.Content {
		if s, ok := d.str(c, field+" entry"); ok {
			out = append(out, s)
			nodes = append(nodes, deref(c))
		}
	}
	return out, nodes
}

// value converts a node into the expression language's values.
func value(n *yaml.Node, depth int) any {
	budget := 1 << 16 // nodes: aliases may repeat a node exponentially often
	return valueIn(n, depth, &budget)
}

func valueIn(n *yaml.Node, depth int, budget *int) any {
	n = deref(n)
	if *budget--; n == nil || depth > 50 || *budget < 0 {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[deref(n.Content[i]).Value] = valueIn(n.Content[i+1], depth+1, budget)
		}
		return m
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			out = append(out, valueIn(c, depth+1, budget))
		}
		return out
	}
	switch n.Tag {
	case "!!null":
		return nil
	case "!!bool":
		b, _ := strconv.ParseBool(strings.ToLower(n.Value))
		return b
	case "!!int", "!!float":
		return toNumber(n.Value)
	}
	return n.Value
}

// exprPos is the position of the ${{ at offset off of a scalar when the
// scalar is on one line; else the scalar's own position.
func (d *decoder) exprPos(n *yaml.Node, s string, off int) *yaml.Node {
	n = deref(n)
	if n == nil || strings.Contains(s[:min(off, len(s))], "\n") || n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n
	}
	c := *n
	c.Column += off
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		c.Column++
	}
	return &c
}

var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: line (\d+): (.*)$`) }) // on first use

// parseYAML reads the one document of a workflow file.
func parseYAML(file string, data []byte) (*yaml.Node, pipeline.ErrorList) {
	at := func(line int, msg, hint string) pipeline.ErrorList {
		return pipeline.ErrorList{{Pos: pipeline.Pos{File: file, Line: line, Col: 1}, Msg: msg, Hint: hint}}
	}
	if len(data) > pipeline.MaxFileSize {
		return nil, at(1, fmt.Sprintf("file is %d bytes, more than the %d pipe reads", len(data), pipeline.MaxFileSize), "split the workflow")
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg, line := strings.TrimSpace(err.Error()), 1
		if m := yamlLine().FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		return nil, at(line, "invalid YAML: "+strings.TrimPrefix(msg, "yaml: "), "fix the YAML syntax: indent with spaces, quote values holding ': '")
	}
	if len(doc.Content) == 0 {
		return nil, at(1, "file is empty", "a workflow has on: and jobs:")
	}
	return doc.Content[0], nil
}
