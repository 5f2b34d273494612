package github

import (
	"bytes"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// render writes the .pipe.yml of f.
func (f *pipeFile) render() ([]byte, error) {
	root := mapNode()
	root.HeadComment = f.header
	add(root, "version", scalar("1"))
	if len(f.env) > 0 {
		add(root, "env", envNode(f.env))
	}
	if len(f.secrets) > 0 {
		add(root, "secrets", flowList(f.secrets))
	}
	if len(f.caches) > 0 {
		c := mapNode()
		for _, d := range f.caches {
			m := mapNode()
			add(m, "path", str(d.path))
			add(m, "sharing", scalar("shared"))
			add(c, d.name, m)
		}
		add(root, "caches", c)
	}
	if len(f.services) > 0 {
		s := mapNode()
		for _, d := range f.services {
			add(s, d.name, d.node())
		}
		add(root, "services", s)
	}
	steps := mapNode()
	for _, s := range f.steps {
		add(steps, s.name, s.node())
		steps.Content[len(steps.Content)-2].HeadComment = s.comment
	}
	add(root, "steps", steps)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("write the .pipe.yml: %w", err)
	}
	return b.Bytes(), enc.Close()
}

func (d *svcDecl) node() *yaml.Node {
	m := mapNode()
	add(m, "image", str(interpEscape(d.image)))
	if len(d.env) > 0 {
		add(m, "env", envNode(d.env))
	}
	if len(d.aliases) > 0 {
		add(m, "aliases", flowList(d.aliases))
	}
	if len(d.command) > 0 {
		add(m, "command", flowList(d.command))
	}
	if r := d.ready; r != nil {
		rn := mapNode()
		add(rn, "run", str(r.run))
		if r.interval != "" {
			add(rn, "interval", scalar(r.interval))
		}
		if r.timeout != "" {
			add(rn, "timeout", scalar(r.timeout))
		}
		if r.retries > 0 {
			add(rn, "retries", scalar(fmt.Sprint(r.retries)))
		}
		add(m, "ready", rn)
	}
	return m
}

func (s *pipeStep) node() *yaml.Node {
	m := mapNode()
	if len(s.axes) > 0 {
		add(m, "matrix", matrixNode(s.axes))
	}
	add(m, "image", str(interpEscape(s.image)))
	if len(s.needs) > 0 {
		needs := make([]string, len(s.needs))
		for i, n := range s.needs {
			needs[i] = interpEscape(n)
		}
		add(m, "needs", flowList(needs))
	}
	if len(s.env) > 0 {
		add(m, "env", envNode(s.env))
	}
	if len(s.secrets) > 0 {
		add(m, "secrets", flowList(s.secrets))
	}
	if len(s.services) > 0 {
		add(m, "services", flowList(s.services))
	}
	if len(s.caches) > 0 {
		add(m, "caches", flowList(s.caches))
	}
	if s.user != "" {
		add(m, "user", str(interpEscape(s.user)))
	}
	if s.timeout != "" {
		add(m, "timeout", scalar(s.timeout))
	}
	if w := s.whenNode(); w != nil {
		add(m, "when", w)
	}
	if s.manual {
		add(m, "manual", scalar("true"))
	}
	if s.allow {
		add(m, "allow_failure", scalar("true"))
	}
	if s.outputs != nil {
		add(m, "outputs", flowList(s.outputs))
	}
	run := &yaml.Node{Kind: yaml.SequenceNode}
	for _, c := range s.run {
		run.Content = append(run.Content, str(c))
	}
	add(m, "run", run)
	if len(s.axes) > 0 {
		putAxes(m, s.axes)
	}
	return m
}

func (s *pipeStep) whenNode() *yaml.Node {
	if len(s.branch) == 0 && len(s.event) == 0 && s.status == "" {
		return nil
	}
	w := mapNode()
	w.Style = yaml.FlowStyle
	if len(s.branch) > 0 {
		add(w, "branch", flowList(s.branch))
	}
	if len(s.event) > 0 {
		add(w, "event", flowList(s.event))
	}
	if s.status != "" {
		add(w, "status", scalar(s.status))
	}
	return w
}

func envNode(env []kv) *yaml.Node {
	m := mapNode()
	for _, e := range env {
		add(m, e.name, str(interpEscape(e.value)))
	}
	return m
}

// interpEscape escapes a value that pipe interpolates when it reads the
// file, so that it stays as written: pipe reads $$ as $ and ${ as the start
// of a variable, and keeps any other $.
func interpEscape(s string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && i+1 < len(s) && (s[i+1] == '{' || s[i+1] == '$') {
			b.WriteByte('$')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func mapNode() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode} }

func add(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

// scalar is a plain value: numbers, booleans, durations.
func scalar(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Value: s} }

// str is a string, in a literal block when it has several lines.
func str(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if strings.Contains(s, "\n") && literalOK(s) {
		n.Style = yaml.LiteralStyle
	}
	return n
}

// literalOK reports whether s reads back the same from a | block.
func literalOK(s string) bool {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasSuffix(l, " ") || strings.HasSuffix(l, "\t") || strings.ContainsAny(l, "\r\x00") {
			return false
		}
	}
	return !strings.HasPrefix(s, " ") && !strings.HasPrefix(s, "\n")
}

func flowList(list []string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, s := range list {
		n.Content = append(n.Content, str(s))
	}
	return n
}
