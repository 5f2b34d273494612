package pipeline

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Formats of Graph.Write.
const (
	FormatText    = "text"
	FormatDOT     = "dot"
	FormatMermaid = "mermaid"
	FormatJSON    = "json"
)

// Formats lists the formats Graph.Write knows.
func Formats() []string { return []string{FormatText, FormatDOT, FormatMermaid, FormatJSON} }

// Summary is a one-line description: "12 steps, 15 edges, 4 levels".
func (g *Graph) Summary() string {
	return fmt.Sprintf("%s, %s, %s", plural(g.Len(), "step"), plural(g.edges, "edge"), plural(len(g.levels), "level"))
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// Write writes the graph in one of Formats: text (a tree by level), dot
// (Graphviz), mermaid (a flowchart) or json (stable, for tools; schema
// "pipe.graph/v1").
func (g *Graph) Write(w io.Writer, format string) error {
	bw := bufio.NewWriter(w)
	switch format {
	case FormatText:
		g.writeText(bw)
	case FormatDOT:
		g.writeDOT(bw)
	case FormatMermaid:
		g.writeMermaid(bw)
	case FormatJSON:
		if err := g.writeJSON(bw); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown graph format %q: use one of %s", format, strings.Join(Formats(), ", "))
	}
	return bw.Flush()
}

// writeText prints each level, then its steps with what they need.
func (g *Graph) writeText(w *bufio.Writer) {
	for l, level := range g.levels {
		fmt.Fprintf(w, "level %d\n", l+1)
		for k, i := range level {
			branch, pad := "├── ", "│   "
			if k == len(level)-1 {
				branch, pad = "└── ", "    "
			}
			w.WriteString(branch + g.steps[i].Name + "\n")
			for j, d := range g.deps[i] {
				arrow := "├─ needs "
				if j == len(g.deps[i])-1 {
					arrow = "└─ needs "
				}
				w.WriteString(pad + arrow + g.steps[d].Name + "\n")
			}
		}
	}
}

func (g *Graph) writeDOT(w *bufio.Writer) {
	w.WriteString("digraph pipeline {\n\trankdir=LR;\n\tnode [shape=box];\n")
	for _, i := range g.order {
		fmt.Fprintf(w, "\t%s;\n", dotQuote(g.steps[i].Name))
	}
	for _, i := range g.order {
		for _, d := range g.deps[i] {
			fmt.Fprintf(w, "\t%s -> %s;\n", dotQuote(g.steps[d].Name), dotQuote(g.steps[i].Name))
		}
	}
	w.WriteString("}\n")
}

func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func (g *Graph) writeMermaid(w *bufio.Writer) {
	w.WriteString("flowchart LR\n")
	for _, i := range g.order {
		fmt.Fprintf(w, "  s%d[\"%s\"]\n", i, strings.ReplaceAll(g.steps[i].Name, `"`, "#quot;"))
	}
	for _, i := range g.order {
		for _, d := range g.deps[i] {
			fmt.Fprintf(w, "  s%d --> s%d\n", d, i)
		}
	}
}

// jsonGraph is the JSON form of a graph, schema pipe.graph/v1.
type jsonGraph struct {
	Schema string     `json:"schema"`
	Steps  []jsonStep `json:"steps"`
	Levels [][]string `json:"levels"`
	Edges  int        `json:"edges"`
}

type jsonStep struct {
	Name   string            `json:"name"`
	Base   string            `json:"base"`
	Matrix map[string]string `json:"matrix,omitempty"`
	Image  string            `json:"image"`
	Needs  []string          `json:"needs"`
	Level  int               `json:"level"`
	Line   int               `json:"line"`
}

// writeJSON writes steps in topological order, levels counted from 1.
func (g *Graph) writeJSON(w *bufio.Writer) error {
	out := jsonGraph{Schema: "pipe.graph/v1", Steps: []jsonStep{}, Levels: [][]string{}, Edges: g.edges}
	level := make([]int, len(g.steps))
	for l, lv := range g.levels {
		names := make([]string, len(lv))
		for k, i := range lv {
			level[i], names[k] = l+1, g.steps[i].Name
		}
		out.Levels = append(out.Levels, names)
	}
	for _, i := range g.order {
		s := g.steps[i]
		js := jsonStep{Name: s.Name, Base: s.Base, Image: s.Image, Needs: []string{}, Level: level[i], Line: s.Pos.Line}
		for _, d := range g.deps[i] {
			js.Needs = append(js.Needs, g.steps[d].Name)
		}
		if len(s.Matrix) > 0 {
			js.Matrix = map[string]string{}
			for _, m := range s.Matrix {
				js.Matrix[m.Axis] = m.Value
			}
		}
		out.Steps = append(out.Steps, js)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("encode graph: %w", err)
	}
	return nil
}
