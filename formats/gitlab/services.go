package gitlab

import (
	"fmt"
	"strings"

	"github.com/pipe-run/pipe/pipeline"
	"gopkg.in/yaml.v3"
)

// service is one GitLab service of a job, as pipe declares it.
type service struct {
	image      string
	hosts      []string // aliases, then the names GitLab derives from the image
	command    []string // replaces the whole argv (an entrypoint was given)
	args       []string // replaces the image's cmd
	env        [][2]string
	pos        pipeline.Pos
	hasCommand bool
}

// services writes the job's services: declared once per distinct
// definition, reachable by their aliases and derived names.
func (t *translator) services(d *doc, s *yaml.Node, j *jobInfo, vs *vars, me mEntry) {
	n := j.n.get("services")
	if n == nil || n.isNull() {
		return
	}
	if !n.isSeq() {
		t.errorf(n.pos, "write services: [postgres:16] or a list of {name, alias}", "%s.services: expected a list, found %s", j.name, kindName(n))
		return
	}
	var names []string
	taken := map[string]string{}
	for _, it := range flatten(n.items, 0) {
		svc, ok := t.service(j, it, vs)
		if !ok {
			continue
		}
		svc.hosts = withoutTaken(svc.hosts, taken, it.pos, t, j)
		if len(svc.hosts) == 0 {
			continue
		}
		names = append(names, d.declare(svc))
	}
	if len(names) > 0 {
		d.e.add(s, "services", d.e.list(names, n.pos), n.pos)
	}
}

// withoutTaken drops host names an earlier service of the job has; GitLab
// gives each service its own address, pipe one loopback per step.
func withoutTaken(hosts []string, taken map[string]string, p pipeline.Pos, t *translator, j *jobInfo) []string {
	var out []string
	for _, h := range hosts {
		if other, dup := taken[h]; dup {
			t.warnf(p, "give it an alias of its own", "%s.services: %s already names %s", j.name, h, other)
			continue
		}
		taken[h] = hosts[0]
		out = append(out, h)
	}
	return out
}

// service reads one entry: an image name or {name, alias, entrypoint,
// command, variables}. Its env is the job's variables from the file (GitLab
// passes them to services) and its own.
func (t *translator) service(j *jobInfo, it *node, vs *vars) (service, bool) {
	svc := service{pos: it.pos}
	var alias string
	var own []variable
	switch {
	case it.isStr():
		svc.image = it.value
	case it.isMap():
		for i, k := range it.keys {
			v := it.vals[i]
			switch k.value {
			case "name":
				svc.image = strValue(v)
			case "alias":
				alias = strValue(v)
			case "entrypoint":
				list, _ := strList(v)
				svc.command = append([]string{}, list...)
				if len(svc.command) == 1 && svc.command[0] == "" {
					svc.command = []string{}
				}
			case "command":
				svc.args, _ = strList(v)
				svc.hasCommand = true
			case "variables":
				own = t.variables(v, j.name+".services.variables")
			case "pull_policy", "docker", "kubernetes":
				t.warnf(k.pos, "", "%s.services.%s is ignored", j.name, k.value)
			default:
				t.errorf(k.pos, "known keys: name, alias, entrypoint, command, variables", "%s.services: unknown key %q", j.name, k.value)
			}
		}
	default:
		t.errorf(it.pos, "write an image name or {name: postgres:16, alias: db}", "%s.services: expected a service, found %s", j.name, kindName(it))
		return svc, false
	}
	svc.image = strings.ReplaceAll(expandVars(svc.image, vs.get), "\x00", "")
	if svc.image == "" {
		t.errorf(it.pos, "add name: with the service's image", "%s.services: service without an image", j.name)
		return svc, false
	}
	if svc.command != nil {
		if len(svc.command) == 0 && !svc.hasCommand {
			t.errorf(it.pos, "give a command: with the entrypoint cleared", "%s.services: entrypoint: [\"\"] without a command", j.name)
			return svc, false
		}
		svc.command, svc.args = append(svc.command, svc.args...), nil
	}
	if strings.Contains(svc.image, "dind") {
		t.warnf(it.pos, "build images outside pipe, or with a daemonless builder the job's image has", "%s.services: %s: Docker-in-Docker needs a privileged container, which pipe never runs; it will not start", j.name, svc.image)
	}
	svc.hosts = serviceHosts(alias, svc.image)
	if len(svc.hosts) == 0 {
		t.errorf(it.pos, "give it an alias: of letters, digits, _ . -", "%s.services: %s gives no host name pipe can use", j.name, svc.image)
		return svc, false
	}
	senv := vs.clone()
	t.setVariables(senv, own)
	for _, name := range append(j.fileVars, varNames(own)...) {
		if v, ok := senv.get(name); ok && !containsPair(svc.env, name) {
			svc.env = append(svc.env, [2]string{name, strings.ReplaceAll(v, "\x00", "")})
		}
	}
	return svc, true
}

func containsPair(env [][2]string, name string) bool {
	for _, e := range env {
		if e[0] == name {
			return true
		}
	}
	return false
}

// ServiceHostNames lists, in order and without repeats, the host names
// GitLab gives a service: its aliases (alias is a list separated by commas
// or blanks), then the names GitLab's Docker executor derives from the image
// without its tag or digest, each "/" made "__" and, as a second name, "-"
// (postgres:16 is postgres; tutum/wordpress is tutum__wordpress and
// tutum-wordpress). Only the names valid accepts are listed: pipe run keeps
// the ones pipe can declare, the GitLab runner driver (runner/gitlab) the
// ones /etc/hosts can hold. It is the one place this rule lives, so the two
// cannot disagree on the names a job reaches its services by.
func ServiceHostNames(alias, image string, valid func(string) bool) []string {
	var out []string
	add := func(h string) {
		if valid(h) && !contains(out, h) {
			out = append(out, h)
		}
	}
	for _, a := range strings.FieldsFunc(alias, func(r rune) bool { return r == ',' || r == ' ' }) {
		add(a)
	}
	name := image
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndexByte(name, ':'); i > strings.LastIndexByte(name, '/') {
		name = name[:i]
	}
	add(strings.ReplaceAll(name, "/", "__"))
	add(strings.ReplaceAll(name, "/", "-"))
	return out
}

// serviceHosts lists the names a service is reachable by in pipe: GitLab's
// names (ServiceHostNames) that pipe accepts as names.
func serviceHosts(alias, image string) []string {
	return ServiceHostNames(alias, image, pipeline.IsName)
}

// declare adds the service to the top-level services (once per definition)
// and returns its name.
func (d *doc) declare(svc service) string {
	key := fmt.Sprintf("%q", []any{svc.image, svc.hosts, svc.command, svc.args, svc.env})
	if name, ok := d.svcKeys[key]; ok {
		return name
	}
	name := svc.hosts[0]
	for i := 2; d.svcNames[name]; i++ {
		name = fmt.Sprintf("%s-%d", svc.hosts[0], i)
	}
	d.svcNames[name] = true
	d.svcKeys[key] = name
	e := d.e
	m := e.mapping(svc.pos)
	e.add(m, "image", e.str(escapeDollar(svc.image), svc.pos), svc.pos)
	var aliases []string
	for _, h := range svc.hosts {
		if h != name {
			aliases = append(aliases, h)
		}
	}
	if len(aliases) > 0 {
		e.add(m, "aliases", e.list(aliases, svc.pos), svc.pos)
	}
	if svc.command != nil {
		e.add(m, "command", e.list(svc.command, svc.pos), svc.pos)
	} else if len(svc.args) > 0 {
		e.add(m, "args", e.list(svc.args, svc.pos), svc.pos)
	}
	e.add(m, "wait_ports", e.scalar("!!bool", "true", svc.pos), svc.pos)
	if len(svc.env) > 0 {
		env := e.mapping(svc.pos)
		for _, kv := range svc.env {
			e.add(env, kv[0], e.str(escapeDollar(kv[1]), svc.pos), svc.pos)
		}
		e.add(m, "env", env, svc.pos)
	}
	e.add(d.services, name, m, svc.pos)
	return name
}
