package github

import (
	"strings"

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
