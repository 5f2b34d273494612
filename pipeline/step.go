package pipeline

import (
	"gopkg.in/yaml.v3"
)

func stepKeys() []string {
	return []string{"image", "run", "needs", "env", "workdir", "inputs", "outputs", "caches", "services", "secrets",
		"timeout", "retry", "when", "matrix", "resources", "network", "user", "allow_failure", "cache", "manual", "outputs_from"}
}

// text is a string of the file with the node it came from, kept for
// interpolation, which happens once per matrix expansion.
type text struct {
	s string
	n *yaml.Node
}

// rawStep is a step as written: fields that hold ${...} are kept as text and
// resolved per expansion, the others are decoded once into tmpl.
type rawStep struct {
	name   string
	k      *yaml.Node
	tmpl   Step
	image  *text
	run    []text
	needs  []text
	env    *yaml.Node
	dir    *text
	user   *text
	in     []text
	out    []text
	axes   []axis
	status *yaml.Node // when.status, when given
	from   []text     // outputs_from, when given (then non-nil)
	order  int        // index of the first expansion in Pipeline.Steps
	bad    bool       // the step is no mapping: already reported
}

// step decodes one step of the steps mapping.
func (ps *parser) step(e entry) *rawStep {
	r := &rawStep{name: e.key, k: e.k}
	r.tmpl = Step{Base: e.key, Pos: ps.pos(e.k), Timeout: DefaultTimeout, Network: NetworkNone, Cache: true}
	hasRun := false
	for _, f := range ps.mapping(e.v, "step "+e.key, e.key+": {run: make test}") {
		field := e.key + "." + f.key
		if f.key == "run" {
			hasRun = true
		}
		ps.stepField(r, f, field)
	}
	if n := deref(e.v); n == nil || n.Kind != yaml.MappingNode {
		r.bad = true
	} else if !hasRun {
		ps.errorf(e.k, "add run: with a command or a script", "step %s has no run", e.key)
	}
	ps.checkHostNames(e.key, e.k, r.tmpl.Services)
	if r.tmpl.RunOn == RunOnFailure && len(r.needs) == 0 {
		ps.errorf(r.status, "add needs: with the steps whose failure it handles", "%s.when.status: failure needs steps to watch, and %s needs none", e.key, e.key)
	}
	return r
}

// stepField decodes one key of a step.
func (ps *parser) stepField(r *rawStep, f entry, field string) {
	t := &r.tmpl
	switch f.key {
	case "image":
		r.image = ps.text(f.v, field, "image: golang:1.22")
	case "run":
		ps.run(r, f.v, field)
	case "needs":
		r.needs = ps.texts(f.v, field, "needs: [build]")
	case "outputs_from":
		r.from = append([]text{}, ps.texts(f.v, field, "outputs_from: [build]")...)
	case "env":
		r.env = f.v
	case "workdir":
		r.dir = ps.text(f.v, field, "workdir: src")
	case "user":
		r.user = ps.text(f.v, field, "user: 1000:1000")
	case "inputs":
		r.in = ps.texts(f.v, field, `inputs: ["go.mod", "**/*.go"]`)
	case "outputs":
		r.out = ps.texts(f.v, field, "outputs: [bin/]")
	case "caches":
		names, _ := ps.refs(f.v, field, "caches", func(s string) bool { _, ok := ps.caches[s]; return ok }, ps.cacheNames())
		for _, n := range names {
			t.Caches = append(t.Caches, ps.caches[n])
		}
	case "services":
		names, _ := ps.refs(f.v, field, "services", func(s string) bool { _, ok := ps.services[s]; return ok }, ps.serviceNames())
		for _, n := range names {
			t.Services = append(t.Services, ps.services[n])
		}
	case "secrets":
		t.Secrets, _ = ps.refs(f.v, field, "secrets", func(s string) bool { return ps.top.secrets[s] }, ps.p.Secrets)
	default:
		ps.stepSetting(r, f, field)
	}
}

// stepSetting decodes the keys of a step that hold no ${...}.
func (ps *parser) stepSetting(r *rawStep, f entry, field string) {
	t := &r.tmpl
	switch f.key {
	case "timeout":
		t.Timeout = ps.duration(f.v, field, t.Timeout)
	case "retry":
		if v, ok := ps.integer(f.v, field, "retry: 2"); ok {
			if v < 0 || v > MaxRetry {
				ps.errorf(f.v, "use a number from 0 to 10", "%s: %d is out of range", field, v)
			} else {
				t.Retry = int(v)
			}
		}
	case "when":
		t.When, t.RunOn, r.status = ps.when(f.v, field)
	case "matrix":
		r.axes = ps.matrix(f.v, field)
	case "resources":
		t.Resources = ps.resources(f.v, field)
	case "network":
		ps.network(f.v, field, t)
	case "allow_failure":
		ps.allowFailure(f.v, field, t)
	case "manual":
		t.Manual, _ = ps.boolean(f.v, field)
	case "cache":
		if v, ok := ps.boolean(f.v, field); ok {
			t.Cache = v
		}
	default:
		ps.unknownKey(f, "step "+r.name, stepKeys())
	}
}

func (ps *parser) text(n *yaml.Node, field, example string) *text {
	s, ok := ps.str(n, field, example)
	if !ok {
		return nil
	}
	return &text{s: s, n: deref(n)}
}

func (ps *parser) texts(n *yaml.Node, field, example string) []text {
	list, nodes := ps.strs(n, field, example)
	out := make([]text, len(list))
	for i := range list {
		out[i] = text{s: list[i], n: nodes[i]}
	}
	return out
}

// run decodes a script (one string) or a list of commands.
func (ps *parser) run(r *rawStep, n *yaml.Node, field string) {
	n = deref(n)
	if n != nil && n.Kind == yaml.ScalarNode && !isNull(n) {
		r.tmpl.Script = true
		r.run = []text{{s: n.Value, n: n}}
	} else {
		r.run = ps.texts(n, field, "run: [go vet ./..., go test ./...]")
	}
	if len(r.run) == 0 && n != nil && n.Kind == yaml.SequenceNode {
		ps.errorf(n, "list at least one command", "%s is empty", field)
	}
	for _, t := range r.run {
		if t.s == "" || isBlank(t.s) {
			ps.errorf(t.n, "write a command, or remove the entry", "%s: empty command", field)
		}
	}
}

func isBlank(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' {
			return false
		}
	}
	return true
}

func (ps *parser) network(n *yaml.Node, field string, t *Step) {
	s, ok := ps.str(n, field, "network: host")
	if !ok {
		return
	}
	switch Network(s) {
	case NetworkNone, NetworkHost:
		t.Network = Network(s)
	default:
		ps.errorf(n, ps.suggestHint(s, []string{"none", "host"}, "use none (loopback only, the default) or host"), "%s: unknown network %s", field, quote(s))
	}
}

func resourceKeys() []string { return []string{"cpus", "memory", "pids", "io_read", "io_write"} }

func (ps *parser) resources(n *yaml.Node, field string) Resources {
	var res Resources
	for _, f := range ps.mapping(n, field, "resources: {cpus: 2, memory: 1G}") {
		sub := field + "." + f.key
		s, ok := ps.str(f.v, sub, f.key+": 2")
		if !ok {
			continue
		}
		var err error
		switch f.key {
		case "cpus":
			res.CPUs, err = ParseCPUs(s)
		case "memory":
			res.Memory, err = ParseSize(s)
			if err == nil && res.Memory < 4<<20 {
				err = errorString("memory below 4M cannot start a container: write at least 4M")
			}
		case "pids":
			res.Pids, err = ps.count(f.v, s)
		case "io_read":
			res.IORead, err = ParseBandwidth(s)
		case "io_write":
			res.IOWrite, err = ParseBandwidth(s)
		default:
			ps.unknownKey(f, field, resourceKeys())
			continue
		}
		if err != nil {
			ps.errorf(f.v, err.Error(), "%s: invalid value %s", sub, quote(s))
		}
	}
	return res
}

func (ps *parser) count(n *yaml.Node, s string) (int64, error) {
	if deref(n).Tag != "!!int" {
		return 0, errorString("write a whole number, e.g. pids: 512")
	}
	v, ok := ps.integer(n, "pids", "pids: 512")
	if !ok {
		return 0, nil
	}
	if v < 1 {
		return 0, errorString("write at least 1")
	}
	return v, nil
}

// errorString is an error that is its message.
type errorString string

func (e errorString) Error() string { return string(e) }
