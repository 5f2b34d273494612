package github

import (
	"fmt"
	"path"
	"strings"

	"gopkg.in/yaml.v3"
)

// CacheDir is where the cache volume of actions/cache is mounted.
const CacheDir = "/pipe-github-cache"

// cacheVolume is the pipe cache that holds actions/cache entries.
const cacheVolume = "github-actions-cache"

// uses translates a uses: step: the actions pipe does itself, or a local
// composite action, expanded.
func (t *translator) uses(sc *jobScope, list *stepList, f map[string]entry, ev *evaluator, s *shellStep) (main, post []*shellStep) {
	d := list.d
	e := f["uses"]
	ref, ok := t.evalStatic(d, e.v, ev, "uses")
	if !ok {
		return nil, nil
	}
	for _, k := range []string{"run", "shell", "working-directory"} {
		if x, ok := f[k]; ok {
			d.errorf(x.k, "remove it: "+k+" is for run: steps", "%s does not apply to a uses: step", k)
		}
	}
	with := t.withInputs(d, f, ev)
	if strings.HasPrefix(ref, "./") {
		return t.composite(sc, list, f, ev, s, strings.TrimPrefix(ref, "./"), with), nil
	}
	name, _, _ := strings.Cut(strings.ToLower(ref), "@")
	switch {
	case name == "actions/checkout":
		t.checkout(d, e, with, s)
	case name == "actions/cache" || name == "actions/cache/restore" || name == "actions/cache/save":
		return t.cache(sc, d, e, name, with, s)
	case name == "actions/upload-artifact":
		s.body = t.uploadArtifact(d, e, with)
	case name == "actions/download-artifact":
		s.body = t.downloadArtifact(d, e, with)
	case setupTool(name) != "":
		t.setup(sc, d, e, name, with, s)
	default:
		d.errorf(e.v, unknownActionHint(ref), "uses: %s: pipe does not fetch or run actions", ref)
		return nil, nil
	}
	return []*shellStep{s}, nil
}

func unknownActionHint(ref string) string {
	if strings.HasPrefix(ref, "docker://") {
		return "run the tool with run: in a job whose container: is that image"
	}
	return "replace the step with run: commands doing the same, or copy the action into the repository as a composite action and use it as uses: ./path"
}

// checkout: the workspace is the working tree already.
func (t *translator) checkout(d *decoder, e entry, with map[string]tmpl, s *shellStep) {
	if repo, ok := staticWith(with, "repository"); ok && repo != "" && repo != "${{ github.repository }}" {
		d.errorf(e.v, "check the other repository out in a run: step (git clone), or vendor it", "actions/checkout of another repository (%s) is not done by pipe", repo)
	}
	if p, ok := staticWith(with, "path"); ok && p != "" && p != "." {
		d.warnf(e.v, "steps see the working tree at /workspace", "actions/checkout path %s is not applied", p)
	}
	s.body = `echo "pipe: actions/checkout: the working tree is already at $GITHUB_WORKSPACE"`
}

// setupTool names the command a setup-* action provides; "" if name is none.
func setupTool(name string) string {
	tools := map[string]string{
		"actions/setup-go": "go", "actions/setup-node": "node", "actions/setup-python": "python3",
		"actions/setup-java": "java", "actions/setup-dotnet": "dotnet", "ruby/setup-ruby": "ruby",
		"actions/setup-ruby": "ruby", "dtolnay/rust-toolchain": "cargo", "actions-rs/toolchain": "cargo",
		"gradle/actions/setup-gradle": "gradle", "pnpm/action-setup": "pnpm", "oven-sh/setup-bun": "bun",
		"denoland/setup-deno": "deno", "astral-sh/setup-uv": "uv", "actions/setup-haskell": "ghc",
		"erlef/setup-beam": "erl", "shivammathur/setup-php": "php", "goto-bus-stop/setup-zig": "zig",
	}
	if tool, ok := tools[name]; ok {
		return tool
	}
	if strings.HasPrefix(name, "actions/setup-") {
		return strings.TrimPrefix(name, "actions/setup-")
	}
	return ""
}

// setup: pipe installs no toolchain; the job's image must have it.
func (t *translator) setup(sc *jobScope, d *decoder, e entry, name string, with map[string]tmpl, s *shellStep) {
	tool := setupTool(name)
	var want []string
	for k, v := range with {
		if strings.HasSuffix(k, "-version") || k == "toolchain" {
			if x, ok := v.static(); ok && x != "" {
				want = append(want, k+" "+x)
			}
		}
	}
	sortStrings(want)
	w := ""
	if len(want) > 0 {
		w = " (" + strings.Join(want, ", ") + ")"
	}
	d.warnf(e.v, "run the job in an image that has "+tool+": --platform LABEL=IMAGE, or container: IMAGE",
		"%s installs nothing under pipe: the job uses the %s of its image %s", name, tool, sc.ps.image)
	msg := fmt.Sprintf("pipe: %s%s: using %s from the image", name, w, tool)
	s.body = "echo " + shQuote(msg) + "\nif command -v " + tool + " >/dev/null 2>&1; then command -v " + tool +
		"; else echo " + shQuote("pipe: "+tool+" is not in this image: run the job in an image that has it (--platform LABEL=IMAGE or container:)") + "; fi"
}

// composite expands a local composite action (uses: ./path).
func (t *translator) composite(sc *jobScope, list *stepList, f map[string]entry, ev *evaluator, s *shellStep, dir string, with map[string]tmpl) []*shellStep {
	d := list.d
	e := f["uses"]
	if list.depth >= 10 {
		d.errorf(e.v, "check for an action that uses itself", "uses: ./%s: composite actions nested more than 10 deep", dir)
		return nil
	}
	dir = path.Clean(dir)
	if dir == ".." || strings.HasPrefix(dir, "../") || path.IsAbs(dir) {
		d.errorf(e.v, "use an action inside the repository", "uses: ./%s is outside the repository", dir)
		return nil
	}
	file, data, err := t.readAction(dir)
	if err != nil {
		d.errorf(e.v, "create "+dir+"/action.yml, or fix the path (it is relative to the repository root)", "uses: ./%s: %v", dir, err)
		return nil
	}
	root, perr := parseYAML(file, data)
	if perr != nil {
		t.errs = append(t.errs, perr...)
		return nil
	}
	ad := &decoder{file: file, errs: &t.errs, warns: &t.warns, budget: t.d.budget}
	return t.expandComposite(sc, list, ad, root, s, dir, with)
}

func (t *translator) readAction(dir string) (string, []byte, error) {
	if t.ctx.ReadFile == nil {
		return "", nil, fmt.Errorf("the repository's files are not available")
	}
	for _, name := range []string{"action.yml", "action.yaml"} {
		file := path.Join(dir, name)
		if data, err := t.ctx.ReadFile(file); err == nil {
			return file, data, nil
		}
	}
	return "", nil, fmt.Errorf("no action.yml in %s", dir)
}

func actionKeys() []string {
	return []string{"name", "description", "author", "inputs", "outputs", "runs", "branding"}
}

func (t *translator) expandComposite(sc *jobScope, list *stepList, ad *decoder, root *yaml.Node, s *shellStep, dir string, with map[string]tmpl) []*shellStep {
	f := map[string]entry{}
	for _, e := range ad.mapping(root, "action") {
		if !contains(actionKeys(), e.key) {
			ad.errorf(e.k, "known keys: "+strings.Join(actionKeys(), ", "), "action: unknown key %q", e.key)
			continue
		}
		f[e.key] = e
	}
	runs, ok := f["runs"]
	if !ok {
		ad.errorf(root, "add runs: {using: composite, steps: [...]}", "action has no runs")
		return nil
	}
	using := mapChild(runs.v, "using")
	if using == nil || using.Value != "composite" {
		what := "nothing"
		if using != nil {
			what = using.Value
		}
		ad.errorf(runs.k, "pipe expands composite actions only: rewrite it with runs: {using: composite} and run: steps", "action runs.using %s is not run by pipe", what)
		return nil
	}
	steps := mapChild(runs.v, "steps")
	if steps == nil || steps.Kind != yaml.SequenceNode {
		ad.errorf(runs.k, "add runs.steps", "composite action has no steps")
		return nil
	}
	outerID := s.id
	if outerID == "" {
		outerID = fmt.Sprintf("__step%d", s.n)
	}
	// the composite's own if: and continue-on-error hold for each of its steps
	guardVar := fmt.Sprintf("__gh_c%d", s.n)
	// (the variable is set in the job's shell, not the step's subshell)
	gate := &shellStep{n: s.n, name: s.name, cond: s.cond, afterFail: s.afterFail, pre: guardVar + "=1",
		body: "echo " + shQuote("pipe: composite action ./"+dir)}
	out := []*shellStep{gate}
	inner := &stepList{d: ad, depth: list.depth + 1, goOn: s.goOn, compose: true,
		guard: "[ \"${" + guardVar + ":-0}\" = 1 ]", defaults: list.defaults}
	saved := *sc
	sc.inputs = t.actionInputs(sc, ad, f, with)
	sc.prefix = outerID + "."
	sc.stepIDs = map[string]bool{}
	sc.env = cloneEnv(sc.env)
	sc.env["GITHUB_ACTION_PATH"] = "/workspace/" + dir
	for _, n := range steps.Content {
		main, _ := t.step(sc, inner, n)
		for _, m := range main {
			m.exports = append([]string{"export GITHUB_ACTION_PATH=" + shQuote("/workspace/"+dir)}, m.exports...)
		}
		out = append(out, main...)
	}
	if o, ok := f["outputs"]; ok {
		out = append(out, t.compositeOutputs(sc, ad, o, s, outerID, inner.guard))
	}
	n := sc.n
	*sc = saved
	sc.n = n
	return out
}

func (t *translator) actionInputs(sc *jobScope, ad *decoder, f map[string]entry, with map[string]tmpl) map[string]any {
	inputs := map[string]any{}
	ev := sc.stepEval("an action's inputs")
	if e, ok := f["inputs"]; ok {
		for _, in := range ad.mapping(e.v, "inputs") {
			def := mapChild(in.v, "default")
			if def != nil {
				if tm, ok := t.evalText(ad, def, ev, "inputs."+in.key+".default"); ok {
					inputs[strings.ToLower(in.key)] = tmplValue(tm)
				}
			} else {
				inputs[strings.ToLower(in.key)] = ""
			}
		}
	}
	for k, v := range with {
		inputs[k] = tmplValue(v)
	}
	return inputs
}

// tmplValue is a tmpl as an expression value.
func tmplValue(tm tmpl) any {
	if s, ok := tm.static(); ok {
		return s
	}
	return &dyn{word: tm.dquoted()}
}

func (t *translator) compositeOutputs(sc *jobScope, ad *decoder, o entry, s *shellStep, outerID, guard string) *shellStep {
	ev := sc.stepEval("an action's outputs")
	var b strings.Builder
	dir := RunnerDir + "/out/" + outerID
	b.WriteString("mkdir -p " + shQuote(dir))
	for _, e := range ad.mapping(o.v, "outputs") {
		v := mapChild(e.v, "value")
		if v == nil {
			continue
		}
		if tm, ok := t.evalText(ad, v, ev, "outputs."+e.key+".value"); ok {
			b.WriteString("\nprintf '%s' \"" + tm.dquoted() + "\" > " + shQuote(dir+"/"+sanitizeName(e.key)))
		}
	}
	sc.n++
	return &shellStep{n: sc.n, name: s.name + " (outputs)", cond: guard, body: b.String(), afterFail: true}
}
