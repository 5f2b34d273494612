package github

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pipe-run/pipe/formats"
	"github.com/pipe-run/pipe/pipeline"
	"gopkg.in/yaml.v3"
)

// translator holds the state of one translation.
type translator struct {
	ctx   formats.Context
	file  string
	d     *decoder // the workflow file
	errs  pipeline.ErrorList
	warns pipeline.ErrorList
	out   pipeFile

	name      string         // the workflow's name
	inputs    map[string]any // workflow_dispatch / workflow_call input defaults
	wfEnv     []envVal       // the workflow's env, evaluated
	defaults  runDefaults    // the workflow's defaults.run
	jobs      map[string]*job
	order     []string // job ids in file order
	services  map[string]*svcDecl
	hashes    map[string]string // hashFiles results by pattern list
	wfSecrets []string          // secrets the workflow's env uses: every job gets them
	at        *yaml.Node        // the value being evaluated, for warnings of the contexts
	atD       *decoder          // its file
}

// runDefaults are a defaults.run mapping.
type runDefaults struct {
	shell, workdir string
}

// Translate turns a GitHub Actions workflow file into a pipeline. filename
// names the file in positions; data is its content.
func Translate(filename string, data []byte, ctx formats.Context) (tr *formats.Translation, err error) {
	defer func() {
		if r := recover(); r != nil {
			tr, err = nil, pipeline.ErrorList{{Pos: pipeline.Pos{File: filename, Line: 1, Col: 1},
				Msg: fmt.Sprintf("internal error while translating the workflow: %v", r), Hint: "please report this bug with the file"}}
		}
	}()
	root, perr := parseYAML(filename, data)
	if perr != nil {
		return nil, perr
	}
	t := &translator{ctx: ctx, file: filename, jobs: map[string]*job{}, services: map[string]*svcDecl{}, hashes: map[string]string{}}
	budget := 1<<20 + 4*len(data)
	t.d = &decoder{file: filename, errs: &t.errs, warns: &t.warns, budget: &budget}
	t.atD = t.d
	t.workflow(root)
	if len(t.errs) > 0 {
		return nil, sorted(t.errs)
	}
	yml, err := t.out.render()
	if err != nil {
		return nil, err
	}
	p, err := pipeline.Parse(filename, yml)
	if err != nil {
		return nil, t.mapErrors(yml, err)
	}
	return &formats.Translation{Pipeline: p, YAML: yml, Warnings: sorted(t.warns)}, nil
}

func workflowKeys() []string {
	return []string{"name", "run-name", "on", "permissions", "env", "defaults", "concurrency", "jobs"}
}

// workflow translates the top-level mapping.
func (t *translator) workflow(root *yaml.Node) {
	fields := map[string]entry{}
	for _, e := range t.d.mapping(root, "workflow") {
		if !contains(workflowKeys(), e.key) {
			t.d.errorf(e.k, "known keys: "+strings.Join(workflowKeys(), ", "), "workflow: unknown key %q", e.key)
			continue
		}
		fields[e.key] = e
	}
	if t.d.mapping(root, "workflow") == nil {
		return
	}
	t.name = t.file
	if e, ok := fields["name"]; ok {
		if s, ok := t.d.str(e.v, "name"); ok {
			t.name = s
		}
	}
	t.out.header = fmt.Sprintf("Translated by pipe from the GitHub Actions workflow %s (%s).", t.file, t.name)
	t.inputs = workflowInputs(fields["on"].v)
	t.out.env = append(t.out.env, predefinedEnv(t.ctx, t.name)...)
	t.out.env = append(t.out.env, kv{RunnerEnv, runnerFuncs})
	if e, ok := fields["env"]; ok {
		t.wfEnv = t.envMap(e.v, "env", t.workflowEval())
		for _, v := range t.wfEnv {
			if s, ok := v.t.static(); ok {
				t.out.env = setKV(t.out.env, v.name, s)
			}
		}
	}
	if e, ok := fields["defaults"]; ok {
		t.defaults = t.runDefaults(e.v, "defaults", runDefaults{})
	}
	e, ok := fields["jobs"]
	if !ok {
		t.d.errorf(root, "add jobs: with at least one job", "workflow has no jobs")
		return
	}
	t.allJobs(e.v)
}

// workflowInputs reads the defaults of workflow_dispatch and workflow_call
// inputs: the inputs context of a local run.
func workflowInputs(on *yaml.Node) map[string]any {
	out := map[string]any{}
	on = deref(on)
	if on == nil || on.Kind != yaml.MappingNode {
		return out
	}
	for i := 0; i+1 < len(on.Content); i += 2 {
		ev := deref(on.Content[i]).Value
		if ev != "workflow_dispatch" && ev != "workflow_call" {
			continue
		}
		inputs := mapChild(on.Content[i+1], "inputs")
		for j := 0; inputs != nil && j+1 < len(inputs.Content); j += 2 {
			name := deref(inputs.Content[j]).Value
			def := mapChild(inputs.Content[j+1], "default")
			if _, seen := out[name]; !seen {
				out[name] = value(def, 0)
			}
		}
	}
	return out
}

// mapChild returns the value of key in a mapping node, or nil.
func mapChild(n *yaml.Node, key string) *yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if deref(n.Content[i]).Value == key {
			return deref(n.Content[i+1])
		}
	}
	return nil
}

func setKV(list []kv, name, value string) []kv {
	for i := range list {
		if list[i].name == name {
			list[i].value = value
			return list
		}
	}
	return append(list, kv{name, value})
}

func (t *translator) runDefaults(n *yaml.Node, field string, base runDefaults) runDefaults {
	for _, e := range t.d.mapping(n, field) {
		if e.key != "run" {
			t.d.errorf(e.k, "defaults has run: {shell, working-directory}", "%s: unknown key %q", field, e.key)
			continue
		}
		for _, f := range t.d.mapping(e.v, field+".run") {
			s, ok := t.d.str(f.v, field+".run."+f.key)
			if !ok {
				continue
			}
			switch f.key {
			case "shell":
				if _, err := shellCommand(s); err != nil {
					t.d.errorf(f.v, "", "%s.run.shell: %v", field, err)
				}
				base.shell = s
			case "working-directory":
				base.workdir = s
			default:
				t.d.errorf(f.k, "known keys: shell, working-directory", "%s.run: unknown key %q", field, f.key)
			}
		}
	}
	return base
}

// sorted returns the problems sorted by position, without duplicates (the
// combinations of a matrix repeat the problems of their job).
func sorted(l pipeline.ErrorList) pipeline.ErrorList {
	in := append(pipeline.ErrorList(nil), l...)
	sortErrors(in)
	var out pipeline.ErrorList
	seen := map[pipeline.Error]bool{}
	for _, e := range in {
		if !seen[*e] {
			seen[*e] = true
			out = append(out, e)
		}
	}
	return out
}

// mapErrors turns problems pipeline.Parse found in the generated .pipe.yml
// into problems at the workflow's positions: the job a step came from, or
// the field of the job when it is known.
func (t *translator) mapErrors(yml []byte, err error) error {
	var list pipeline.ErrorList
	if !errors.As(err, &list) {
		return err
	}
	var doc yaml.Node
	if yaml.Unmarshal(yml, &doc) != nil || len(doc.Content) == 0 {
		return err
	}
	steps := mapChild(doc.Content[0], "steps")
	out := make(pipeline.ErrorList, 0, len(list))
	for _, e := range list {
		pos := pipeline.Pos{File: t.file, Line: 1, Col: 1}
		name, field := stepAt(steps, e.Pos.Line)
		for _, s := range t.out.steps {
			if s.name != name {
				continue
			}
			pos = s.origin
			if p, ok := s.fields[field]; ok {
				pos = p
			}
		}
		out = append(out, &pipeline.Error{Pos: pos, Msg: "in the translated pipeline: " + e.Msg, Hint: e.Hint})
	}
	return sorted(out)
}

// stepAt finds the generated step, and its key, that holds a line.
func stepAt(steps *yaml.Node, line int) (name, field string) {
	if steps == nil {
		return "", ""
	}
	for i := 0; i+1 < len(steps.Content); i += 2 {
		if steps.Content[i].Line > line {
			break
		}
		name, field = steps.Content[i].Value, ""
		v := steps.Content[i+1]
		for j := 0; j+1 < len(v.Content); j += 2 {
			if v.Content[j].Line <= line {
				field = v.Content[j].Value
			}
		}
	}
	return name, field
}
