package github

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

func serviceKeys() []string {
	return []string{"image", "env", "ports", "volumes", "options", "credentials"}
}

// jobServices declares the job's services, by their key as host name.
func (t *translator) jobServices(sc *jobScope, f entry, ev *evaluator) {
	for _, e := range t.d.mapping(f.v, "services") {
		if !validName(e.key) {
			t.d.errorf(e.k, "use letters, digits, _ . -", "services: %q cannot be a host name", e.key)
			continue
		}
		svc := &svcDecl{name: e.key, origin: t.d.pos(e.k), from: sc.j.id}
		if !t.service(sc, svc, e, ev) {
			continue
		}
		sc.ps.services = append(sc.ps.services, t.declareService(svc))
	}
}

// declareService returns the pipe service of a job's service: the first of
// its key, or one declared before with the same definition, or a new one
// (key-2, key-3, ...) reachable by the key as an alias, since a matrix may
// give one key other images.
func (t *translator) declareService(svc *svcDecl) string {
	key := svc.name
	for i := 1; ; i++ {
		name := key
		if i > 1 {
			name = fmt.Sprintf("%s-%d", key, i)
		}
		prev, ok := t.services[name]
		if !ok {
			if i > 1 {
				svc.name, svc.aliases = name, []string{key}
			}
			t.services[name] = svc
			t.out.services = append(t.out.services, svc)
			return name
		}
		if sameService(prev, svc) {
			return name
		}
	}
}

func sameService(a, b *svcDecl) bool {
	return a.image == b.image && reflect.DeepEqual(a.env, b.env) && reflect.DeepEqual(a.command, b.command) && reflect.DeepEqual(a.ready, b.ready)
}

func (t *translator) service(sc *jobScope, svc *svcDecl, e entry, ev *evaluator) bool {
	n := deref(e.v)
	if n != nil && n.Kind == yaml.ScalarNode {
		img, ok := t.evalStatic(t.d, n, ev, "services."+e.key)
		svc.image = img
		return ok && img != ""
	}
	ok := true
	for _, f := range t.d.mapping(n, "services."+e.key) {
		field := "services." + e.key + "." + f.key
		switch f.key {
		case "image":
			svc.image, ok = t.evalStatic(t.d, f.v, ev, field)
		case "env":
			for _, v := range t.envMap(f.v, field, ev) {
				s, known := v.t.static()
				if !known {
					t.d.errorf(v.n, "write the value in the workflow: a service's env is read before anything runs", "%s.%s: secrets and step outputs are not available to services", field, v.name)
					ok = false
				}
				svc.env = append(svc.env, kv{v.name, s})
			}
		case "options":
			if s, known := t.evalStatic(t.d, f.v, ev, field); known {
				t.serviceOptions(svc, f.v, s)
			}
		case "ports":
			t.servicePorts(svc, f.v, ev, field)
		case "volumes", "credentials":
			t.d.warnf(f.k, "", "%s is not applied", field)
		default:
			t.d.errorf(f.k, "known keys: "+strings.Join(serviceKeys(), ", "), "services.%s: unknown key %q", e.key, f.key)
		}
	}
	if svc.image == "" && ok {
		t.d.errorf(e.k, "add image:", "service %s has no image", e.key)
		return false
	}
	return ok
}

// servicePorts checks a service's ports. A job and its services share one
// loopback, so a service is reachable at localhost and at its key on its
// own (container) port; a mapping to another host port cannot be kept.
func (t *translator) servicePorts(svc *svcDecl, n *yaml.Node, ev *evaluator, field string) {
	list, nodes := t.d.strs(n, field)
	for i := range list {
		p, ok := t.evalStatic(t.d, nodes[i], ev, field)
		if !ok {
			continue
		}
		p, _, _ = strings.Cut(p, "/") // 5432/tcp
		parts := strings.Split(p, ":")
		cport := parts[len(parts)-1]
		if len(parts) >= 2 && parts[len(parts)-2] != cport {
			t.d.warnf(nodes[i], "connect to localhost:"+cport+" or "+svc.name+":"+cport,
				"services.%s.ports %s: pipe maps no ports: the service listens on %s, not %s", svc.name, list[i], cport, parts[len(parts)-2])
		}
	}
}

// serviceOptions maps docker's --health-* options to a readiness check;
// other options are reported.
func (t *translator) serviceOptions(svc *svcDecl, n *yaml.Node, s string) {
	args := splitOptions(s)
	r := &readyDecl{}
	for i := 0; i < len(args); i++ {
		name, val, hasVal := strings.Cut(args[i], "=")
		if !hasVal && i+1 < len(args) && strings.HasPrefix(name, "--health-") {
			val = args[i+1]
			i++
		}
		switch name {
		case "--health-cmd":
			r.run = val
		case "--health-interval":
			r.interval = durationOpt(val)
		case "--health-timeout":
			r.timeout = durationOpt(val)
		case "--health-retries":
			r.retries, _ = strconv.Atoi(val)
		case "--health-start-period":
		default:
			if strings.HasPrefix(name, "-") {
				t.d.warnf(n, "", "services.%s.options %s is not applied", svc.name, name)
			}
		}
	}
	if r.run != "" {
		svc.ready = r
	}
}

func durationOpt(s string) string {
	if d, err := time.ParseDuration(s); err == nil {
		return d.String()
	}
	if _, err := strconv.Atoi(s); err == nil {
		return s + "s"
	}
	return ""
}

// splitOptions splits a docker options string as a shell would: spaces
// separate, quotes group.
func splitOptions(s string) []string {
	var out []string
	var b strings.Builder
	in, quote, has := false, byte(0), false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			b.WriteByte(c)
		case c == '"' || c == '\'':
			quote, has = c, true
		case c == ' ' || c == '\t' || c == '\n':
			if in || has {
				out = append(out, b.String())
				b.Reset()
				in, has = false, false
			}
		default:
			b.WriteByte(c)
			in = true
		}
	}
	if in || has {
		out = append(out, b.String())
	}
	return out
}
