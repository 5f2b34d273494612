package gitlab

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pipe-run/pipe/formats"
	"github.com/pipe-run/pipe/pipeline"
	"gopkg.in/yaml.v3"
)

// sentinel stands for a matrix variable's value until the step is written:
// pipe fills ${matrix.NAME} per expansion.
func sentinel(axis string) string { return "\x00matrix." + axis + "\x00" }

// doc is the .pipe.yml being built.
type doc struct {
	e        *emitter
	root     *yaml.Node
	topEnv   *vars
	services *yaml.Node
	svcKeys  map[string]string // definition -> service name
	svcNames map[string]bool
	caches   *yaml.Node
	cacheSet map[string]bool
	steps    *yaml.Node
}

// finish writes the document, and parses it into the pipeline.
func (t *translator) finish() (*formats.Translation, error) {
	if t.copies > maxCopies {
		return nil, t.errList()
	}
	d := &doc{e: newEmitter(), svcKeys: map[string]string{}, svcNames: map[string]bool{}, cacheSet: map[string]bool{}}
	d.root = d.e.mapping(t.root.pos)
	d.root.HeadComment = fmt.Sprintf("Translated by pipe from %s for %s (CI_PIPELINE_SOURCE %s):\n"+
		"rules, only/except and workflow were decided for that run.", t.file, t.refDescription(), pipelineSource(t.ctx.Event))
	d.e.add(d.root, "version", d.e.scalar("!!int", "1", pipeline.Pos{}), pipeline.Pos{})
	d.topEnv = t.topEnv()
	if len(d.topEnv.names) > 0 {
		d.e.add(d.root, "env", t.envNode(d, d.topEnv, nil, nil, mEntry{}), pipeline.Pos{})
	}
	d.caches = d.e.mapping(pipeline.Pos{})
	d.services = d.e.mapping(pipeline.Pos{})
	d.steps = d.e.mapping(t.root.pos)
	for _, j := range t.jobs {
		t.jobSteps(d, j)
	}
	if len(t.errs) > 0 || len(t.jobs) == 0 {
		return nil, t.errList()
	}
	if len(d.caches.Content) > 0 {
		d.e.add(d.root, "caches", d.caches, pipeline.Pos{})
	}
	if len(d.services.Content) > 0 {
		d.e.add(d.root, "services", d.services, pipeline.Pos{})
	}
	d.e.add(d.root, "steps", d.steps, t.root.pos)
	text, err := encode(d.root)
	if err != nil {
		return nil, pipeline.ErrorList{{Pos: pipeline.Pos{File: t.file, Line: 1, Col: 1}, Msg: "internal error writing the translation: " + err.Error(), Hint: "please report this bug with the file"}}
	}
	p, err := pipeline.Parse(t.file, text)
	if err != nil {
		return nil, mapErrors(err, d.e.mapPositions(d.root, text), t.file)
	}
	return &formats.Translation{Pipeline: p, YAML: text, Warnings: sortErrors(t.warns)}, nil
}

// topEnv is the pipeline's env: the predefined variables of the run, and
// the file's global ones when every job inherits them.
func (t *translator) topEnv() *vars {
	v := predefined(t.ctx, nil)
	for _, j := range t.jobs {
		if inh := j.n.get("inherit"); inh != nil && inh.get("variables") != nil {
			return v
		}
	}
	t.setVariables(v, t.global)
	t.setVariables(v, t.wfVars)
	return v
}

// envNode writes variables as an env mapping: those of vs that top does
// not hold with the same value, sentinels turned into ${matrix.NAME}.
func (t *translator) envNode(d *doc, vs, top *vars, names []string, me mEntry) *yaml.Node {
	m := d.e.mapping(pipeline.Pos{})
	if names == nil {
		names = vs.names
	}
	for _, name := range names {
		v, ok := vs.get(name)
		if !ok {
			continue
		}
		if top != nil {
			if tv, ok := top.get(name); ok && tv == v {
				continue
			}
		}
		d.e.add(m, name, d.e.str(fill(v, me), pipeline.Pos{}), pipeline.Pos{})
	}
	return m
}

// fill escapes s for pipe's interpolation and turns sentinels into
// ${matrix.NAME} for the axes of me, "" for others.
func fill(s string, me mEntry) string {
	s = escapeDollar(s)
	for strings.Contains(s, "\x00matrix.") {
		i := strings.Index(s, "\x00matrix.")
		end := strings.IndexByte(s[i+1:], 0)
		if end < 0 {
			break
		}
		axis := s[i+len("\x00matrix.") : i+1+end]
		rep := ""
		for _, a := range me.axes {
			if a.name == axis {
				rep = "${matrix." + axis + "}"
			}
		}
		s = s[:i] + rep + s[i+2+end:]
	}
	return s
}

// jobSteps writes the steps of one job: one, or one per matrix entry.
func (t *translator) jobSteps(d *doc, j *jobInfo) {
	entries := j.matrix
	if len(entries) == 0 {
		entries = []mEntry{{}}
	}
	total := 0
	for _, me := range entries {
		total += me.size()
	}
	for i, me := range entries {
		vs := j.vars.clone()
		t.matrixVars(j, vs, me, total)
		s := t.step(d, j, vs, me)
		if s == nil || i >= len(j.steps) {
			return
		}
		d.e.add(d.steps, j.steps[i], s, j.key.pos)
		k := d.steps.Content[len(d.steps.Content)-2]
		k.HeadComment = fmt.Sprintf("GitLab job %q, stage %s", j.name, j.stage)
	}
}

// matrixVars sets the variables of a matrix entry (as sentinels) and
// CI_NODE_INDEX, CI_NODE_TOTAL and CI_JOB_NAME as GitLab names the jobs.
func (t *translator) matrixVars(j *jobInfo, vs *vars, me mEntry, total int) {
	if len(me.axes) == 0 {
		return
	}
	vals := make([]string, len(me.axes))
	for i, a := range me.axes {
		vals[i] = sentinel(a.name)
		if me.fixed {
			vals[i] = a.values[0]
		}
		vs.set(a.name, vals[i])
	}
	vs.set("CI_NODE_TOTAL", strconv.Itoa(total))
	if me.axes[0].name == "CI_NODE_INDEX" && len(me.axes) == 1 && j.n.get("parallel").get("matrix") == nil {
		vs.set("CI_JOB_NAME", j.name+" "+vals[0]+"/"+strconv.Itoa(total))
	} else {
		vs.set("CI_JOB_NAME", j.name+": ["+strings.Join(vals, ", ")+"]")
	}
	vs.set("CI_JOB_NAME_SLUG", slug(j.name))
	// The job's own variables may read the matrix's: expand them again.
	own := t.variables(j.n.get("variables"), j.name+".variables")
	for i := range own {
		if a, isAxis := axisOf(me, own[i].name); isAxis {
			own[i].value, own[i].expand = sentinel(own[i].name), true
			if me.fixed {
				own[i].value = a.values[0]
			}
		}
	}
	t.setVariables(vs, own)
}

func axisOf(me mEntry, name string) (mAxis, bool) {
	for _, a := range me.axes {
		if a.name == name {
			return a, true
		}
	}
	return mAxis{}, false
}

// step writes one step.
func (t *translator) step(d *doc, j *jobInfo, vs *vars, me mEntry) *yaml.Node {
	e := d.e
	s := e.mapping(j.key.pos)
	t.image(d, s, j, vs, me)
	main := t.commands(j, "script")
	if len(main) == 0 {
		if sn := j.n.get("script"); sn != nil && !sn.isNull() && len(t.errs) == 0 {
			t.errorf(sn.pos, "add at least one command", "%s.script is empty", j.name)
		}
		return nil
	}
	before, after := t.commands(j, "before_script"), t.commands(j, "after_script")
	spos := nodePos(j.n.get("script"))
	if len(after) == 0 {
		// A list of commands: pipe prints each ("+ command", as GitLab's
		// "$ command"), names the one that failed, and pipe debug --at N
		// stops before the N-th.
		list := e.at(&yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}, spos)
		for _, c := range append(append([]string(nil), before...), main...) {
			if strings.TrimSpace(c) != "" {
				list.Content = append(list.Content, e.str(strings.TrimRight(c, "\n"), spos))
			}
		}
		e.add(s, "run", list, j.n.keyNode("script").pos)
	} else {
		e.add(s, "run", e.str(script(before, main, after), spos), j.n.keyNode("script").pos)
	}
	if len(j.stepDeps) > 0 {
		e.add(s, "needs", e.list(j.stepDeps, needsPos(j)), needsPos(j))
		if j.fromSet {
			e.add(s, "outputs_from", e.list(j.from, needsPos(j)), needsPos(j))
		}
	}
	if len(me.axes) > 0 && !me.fixed {
		t.matrix(d, s, j, me)
	}
	if env := t.envNode(d, vs, d.topEnv, nil, me); len(env.Content) > 0 {
		e.add(s, "env", env, nodePos(j.n.keyNode("variables")))
	}
	t.outputs(d, s, j, vs)
	t.caches(d, s, j, vs)
	t.services(d, s, j, vs, me)
	t.settings(d, s, j)
	t.network(d, s, j, vs)
	return s
}

// network gives the step the host's network when PIPE_NETWORK is host, in
// the environment pipe runs in or as a variable of the file: GitLab jobs
// reach the network, pipe steps only their services unless told.
func (t *translator) network(d *doc, s *yaml.Node, j *jobInfo, vs *vars) {
	v, ok := t.evaluator(vs).lookup("PIPE_NETWORK")
	switch {
	case !ok || v == "" || v == "none":
	case v == "host":
		d.e.add(s, "network", d.e.str("host", j.key.pos), j.key.pos)
	default:
		t.errorf(j.key.pos, "set PIPE_NETWORK to host (the host's network) or none (loopback and services only, the default)", "%s: PIPE_NETWORK=%q is not a network", j.name, v)
	}
}

func needsPos(j *jobInfo) pipeline.Pos {
	if k := j.n.keyNode("needs"); k != nil {
		return k.pos
	}
	if k := j.n.keyNode("stage"); k != nil {
		return k.pos
	}
	return j.key.pos
}

// matrix writes the pipe matrix of one entry.
func (t *translator) matrix(d *doc, s *yaml.Node, j *jobInfo, me mEntry) {
	p := nodePos(j.n.keyNode("parallel"))
	m := d.e.mapping(p)
	for _, a := range me.axes {
		d.e.add(m, a.name, d.e.list(a.values, p), p)
	}
	d.e.add(s, "matrix", m, p)
}

// image writes the job's image: a name, or {name, entrypoint, docker: {user}}.
func (t *translator) image(d *doc, s *yaml.Node, j *jobInfo, vs *vars, me mEntry) {
	n := j.n.get("image")
	if n == nil {
		t.errorf(j.key.pos, "add image: to the job or to default: (GitLab's runner would use its default image)", "job %s has no image", j.name)
		return
	}
	name, pos := "", n.pos
	switch {
	case n.isStr():
		name = n.value
	case n.isMap():
		name = strValue(n.get("name"))
		t.imageMapping(d, s, j, n)
	default:
		t.errorf(n.pos, "write image: alpine:3.20 or image: {name: alpine:3.20}", "%s.image: expected an image, found %s", j.name, kindName(n))
		return
	}
	name = expandVars(name, vs.get)
	if strings.TrimSpace(name) == "" {
		t.errorf(pos, "name an image, e.g. image: alpine:3.20", "%s.image: no image name", j.name)
		return
	}
	d.e.add(s, "image", d.e.str(fill(name, me), pos), pos)
}

func (t *translator) imageMapping(d *doc, s *yaml.Node, j *jobInfo, n *node) {
	for i, k := range n.keys {
		v := n.vals[i]
		switch k.value {
		case "name":
		case "entrypoint":
			if list, _ := strList(v); len(list) > 0 && !(len(list) == 1 && list[0] == "") {
				t.warnf(k.pos, "pipe runs the script with /bin/sh directly", "%s.image.entrypoint is not run", j.name)
			}
		case "pull_policy":
			t.warnf(k.pos, "pipe pulls an image when it is missing; pipe run --pull always pulls", "%s.image.pull_policy is ignored", j.name)
		case "docker", "kubernetes":
			t.imageExecutorOptions(d, s, j, k, v)
		default:
			t.errorf(k.pos, "known keys: name, entrypoint, pull_policy, docker", "%s.image: unknown key %q", j.name, k.value)
		}
	}
}

func (t *translator) imageExecutorOptions(d *doc, s *yaml.Node, j *jobInfo, k, v *node) {
	if k.value == "kubernetes" || !v.isMap() {
		t.warnf(k.pos, "", "%s.image.%s is ignored", j.name, k.value)
		return
	}
	for i, o := range v.keys {
		switch o.value {
		case "user":
			d.e.add(s, "user", d.e.str(escapeDollar(strValue(v.vals[i])), v.vals[i].pos), o.pos)
		default:
			t.warnf(o.pos, "pipe runs the image of this machine's platform", "%s.image.docker.%s is ignored", j.name, o.value)
		}
	}
}
