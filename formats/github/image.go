package github

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DefaultImages are the images of GitHub's Linux runner labels when no
// --platform names one: plain Ubuntu images of the same release, without
// the tools GitHub's runner images carry.
func DefaultImages() map[string]string {
	return map[string]string{
		"ubuntu-latest": "ubuntu:24.04",
		"ubuntu-24.04":  "ubuntu:24.04",
		"ubuntu-22.04":  "ubuntu:22.04",
		"ubuntu-20.04":  "ubuntu:20.04",
		"linux":         "ubuntu:24.04",
	}
}

// jobImage picks the job's image: its container, else its runs-on label
// through --platform, else the default image of a Linux label. It returns
// false when the job is left out: it runs on Windows or macOS.
func (t *translator) jobImage(j *job, sc *jobScope, ev *evaluator) bool {
	if f, ok := j.f["container"]; ok {
		if t.container(sc, f, ev) {
			return true
		}
	}
	f, ok := j.f["runs-on"]
	if !ok {
		t.d.errorf(j.k, "add runs-on: ubuntu-latest (or a container:)", "job %s has no runs-on", j.id)
		return true
	}
	sc.ps.fields["image"] = t.d.pos(f.v)
	v, ok := t.evalValue(f.v, ev, "runs-on")
	if !ok {
		return true
	}
	labels := runsOnLabels(v)
	if len(labels) == 0 {
		t.d.errorf(f.v, "write a label, e.g. runs-on: ubuntu-latest", "runs-on: no label")
		return true
	}
	for _, l := range labels {
		if img, ok := t.ctx.Platforms[l]; ok && img != "" {
			sc.ps.image = img
			return true
		}
	}
	for _, l := range labels {
		if low := strings.ToLower(l); strings.HasPrefix(low, "windows") || strings.HasPrefix(low, "macos") {
			t.d.warnf(f.v, "pipe runs Linux containers; to run it in a Linux image anyway, pass --platform "+l+"=IMAGE",
				"job %s is left out: it runs on %s", sc.ps.name, l)
			return false
		}
	}
	for _, l := range labels {
		if img, ok := DefaultImages()[l]; ok {
			sc.ps.image = img
			if !t.warnedLabel(l) {
				t.d.warnf(f.v, "name an image with the job's tools: pipe run --platform "+l+"=IMAGE, or give the job a container:",
					"runs-on %s runs in the image %s, a plain Ubuntu without the tools of GitHub's runner image", l, img)
			}
			return true
		}
	}
	t.d.errorf(f.v, "pipe runs jobs in Linux containers: name the image for it with --platform "+labels[0]+"=IMAGE, or give the job a container:",
		"runs-on %s: no image for this label", strings.Join(labels, ", "))
	return true
}

func (t *translator) warnedLabel(l string) bool {
	for _, w := range t.warns {
		if strings.HasPrefix(w.Msg, "runs-on "+l+" runs in") {
			return true
		}
	}
	return false
}

func runsOnLabels(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, toString(e))
		}
		return out
	case map[string]any:
		return runsOnLabels(x["labels"])
	}
	return nil
}

func containerKeys() []string {
	return []string{"image", "env", "ports", "volumes", "options", "credentials"}
}

// container reads a job's container: (a string or a mapping). It returns
// false when it names no image (an empty string: run on the runner).
func (t *translator) container(sc *jobScope, f entry, ev *evaluator) bool {
	n := deref(f.v)
	imgNode := n
	if n != nil && n.Kind == yaml.MappingNode {
		imgNode = nil
		for _, e := range t.d.mapping(n, "container") {
			switch e.key {
			case "image":
				imgNode = e.v
			case "env":
			case "options":
				t.containerOptions(sc, e, ev)
			case "ports", "volumes", "credentials":
				t.d.warnf(e.k, "pipe's steps share the workspace and caches instead", "container.%s is not applied", e.key)
			default:
				t.d.errorf(e.k, "known keys: "+strings.Join(containerKeys(), ", "), "container: unknown key %q", e.key)
			}
		}
		if imgNode == nil {
			t.d.errorf(f.k, "add image:", "container has no image")
			return true
		}
	}
	img, ok := t.evalStatic(t.d, imgNode, ev, "container.image")
	if !ok {
		return true
	}
	if img == "" {
		return false
	}
	sc.ps.image = img
	sc.ps.fields["image"] = t.d.pos(imgNode)
	return true
}

// containerOptions reads docker run options: --user is kept, the others
// are reported.
func (t *translator) containerOptions(sc *jobScope, e entry, ev *evaluator) {
	s, ok := t.evalStatic(t.d, e.v, ev, "container.options")
	if !ok {
		return
	}
	args := strings.Fields(s)
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--user" || a == "-u":
			if i+1 < len(args) {
				sc.ps.user = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "--user="):
			sc.ps.user = strings.TrimPrefix(a, "--user=")
		case strings.HasPrefix(a, "-"):
			t.d.warnf(e.v, "pipe gives every step its own container with pipe's isolation", "container.options %s is not applied", a)
		}
	}
}

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

// hashFiles is GitHub's hashFiles(): the SHA-256 of the SHA-256 of each
// repository file matching the patterns, in path order; "" when none does.
func (t *translator) hashFiles(patterns []string) (string, error) {
	key := strings.Join(patterns, "\x00")
	if h, ok := t.hashes[key]; ok {
		return h, nil
	}
	if t.ctx.Glob == nil || t.ctx.ReadFile == nil {
		return "", fmt.Errorf("hashFiles(): the repository's files are not available here")
	}
	seen := map[string]bool{}
	var files []string
	for _, p := range patterns {
		p = strings.TrimPrefix(p, "./")
		if neg, ok := strings.CutPrefix(p, "!"); ok {
			m, err := t.ctx.Glob(neg)
			if err != nil {
				return "", fmt.Errorf("hashFiles(%q): %v", p, err)
			}
			for _, f := range m {
				seen[f] = false
			}
			continue
		}
		m, err := t.ctx.Glob(p)
		if err != nil {
			return "", fmt.Errorf("hashFiles(%q): %v", p, err)
		}
		for _, f := range m {
			if _, done := seen[f]; !done {
				seen[f] = true
				files = append(files, f)
			}
		}
	}
	sort.Strings(files)
	all := sha256.New()
	n := 0
	for _, f := range files {
		if !seen[f] {
			continue
		}
		data, err := t.ctx.ReadFile(f)
		if err != nil {
			continue // a directory, or unreadable: GitHub skips it too
		}
		h := sha256.Sum256(data)
		all.Write(h[:])
		n++
	}
	out := ""
	if n > 0 {
		out = hex.EncodeToString(all.Sum(nil))
	}
	t.hashes[key] = out
	return out, nil
}
