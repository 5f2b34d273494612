package pipeline

import (
	"slices"

	"gopkg.in/yaml.v3"
)

func serviceKeys() []string {
	return []string{"image", "env", "command", "args", "aliases", "ready", "wait_ports"}
}
func readyKeys() []string { return []string{"run", "interval", "timeout", "retries"} }

// serviceDecls decodes the top-level services mapping.
func (ps *parser) serviceDecls(e entry) {
	if e.v == nil {
		return
	}
	for _, s := range ps.mapping(e.v, "services", "services: {db: {image: postgres:16}}") {
		if !IsName(s.key) {
			ps.errorf(s.k, "use letters, digits, _ . -", "services: %s is not a valid service name", quote(s.key))
			continue
		}
		svc := ps.service(s)
		ps.services[s.key] = svc
		ps.p.Services = append(ps.p.Services, svc)
	}
}

// service decodes one service; its image and env values see the pipeline's
// env, its command and readiness check are left to the shell.
func (ps *parser) service(e entry) *Service {
	svc := &Service{Name: e.key, Pos: ps.pos(e.k)}
	where := "services." + e.key
	hasImage := false
	for _, f := range ps.mapping(e.v, where, "db: {image: postgres:16}") {
		field := where + "." + f.key
		switch f.key {
		case "image":
			if s, ok := ps.str(f.v, field, "image: postgres:16"); ok {
				svc.Image = ps.expand(f.v, field, s, ps.top)
				hasImage = svc.Image != ""
			}
		case "env":
			svc.Env = ps.env(f.v, field, ps.top, map[string]string{})
		case "command":
			ps.command(f.v, field, svc)
		case "args":
			svc.Args, _ = ps.strs(f.v, field, `args: ["--port", "6380"]`)
		case "aliases":
			svc.Aliases = ps.aliases(f.v, field, e.key)
		case "wait_ports":
			svc.WaitPorts, _ = ps.boolean(f.v, field)
		case "ready":
			svc.Ready = ps.ready(f.v, field)
		default:
			ps.unknownKey(f, where, serviceKeys())
		}
	}
	if !hasImage && deref(e.v) != nil && deref(e.v).Kind == yaml.MappingNode {
		ps.errorf(e.k, "add image: to the service", "%s has no image", where)
	}
	return svc
}

func (ps *parser) command(n *yaml.Node, field string, svc *Service) {
	n = deref(n)
	if n != nil && n.Kind == yaml.ScalarNode && !isNull(n) {
		svc.Command, svc.CommandShell = []string{n.Value}, true
		return
	}
	svc.Command, _ = ps.strs(n, field, `command: ["redis-server", "--save", ""]`)
}

func (ps *parser) ready(n *yaml.Node, field string) *Ready {
	r := &Ready{Interval: DefaultReadyInterval, Timeout: DefaultReadyTimeout, Retries: DefaultReadyRetries}
	entries := ps.mapping(n, field, "ready: {run: pg_isready -h 127.0.0.1}")
	for _, f := range entries {
		sub := field + "." + f.key
		switch f.key {
		case "run":
			r.Run, _ = ps.str(f.v, sub, "run: pg_isready -h 127.0.0.1")
		case "interval":
			r.Interval = ps.duration(f.v, sub, r.Interval)
		case "timeout":
			r.Timeout = ps.duration(f.v, sub, r.Timeout)
		case "retries":
			if v, ok := ps.integer(f.v, sub, "retries: 30"); ok {
				if v < 1 || v > 10000 {
					ps.errorf(f.v, "use a number from 1 to 10000", "%s: %d is out of range", sub, v)
				}
				r.Retries = int(v)
			}
		default:
			ps.unknownKey(f, field, readyKeys())
		}
	}
	if entries != nil && !slices.ContainsFunc(entries, func(e entry) bool { return e.key == "run" }) {
		ps.errorf(n, "add run: with a command that exits 0 once the service is ready", "%s has no run", field)
	}
	return r
}

// aliases decodes a service's other host names.
func (ps *parser) aliases(n *yaml.Node, field, name string) []string {
	list, nodes := ps.strs(n, field, "aliases: [db, postgres]")
	var out []string
	for i, a := range list {
		switch {
		case !IsName(a):
			ps.errorf(nodes[i], "use letters, digits, _ . - (not first)", "%s: %s is not a valid host name", field, quote(a))
		case a == name || slices.Contains(out, a):
			ps.errorf(nodes[i], "remove it", "%s: %s is listed twice", field, quote(a))
		default:
			out = append(out, a)
		}
	}
	return out
}

// HostNames returns the names the service is reachable by: Name, then Aliases.
func (s *Service) HostNames() []string { return append([]string{s.Name}, s.Aliases...) }

// checkHostNames reports two services of one step reachable by one name.
func (ps *parser) checkHostNames(stepName string, k *yaml.Node, svcs []*Service) {
	owner := map[string]string{}
	for _, s := range svcs {
		for _, h := range s.HostNames() {
			if o, dup := owner[h]; dup && o != s.Name {
				ps.errorf(k, "give one of them another alias", "step %s: services %s and %s are both reachable as %s", stepName, o, s.Name, quote(h))
				continue
			}
			owner[h] = s.Name
		}
	}
}
