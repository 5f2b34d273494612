package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/pipe-run/pipe/executor"
	"github.com/pipe-run/pipe/formats"
	"github.com/pipe-run/pipe/formats/github"
	"github.com/pipe-run/pipe/formats/gitlab"
	"github.com/pipe-run/pipe/pipeline"
)

// The pipeline file formats pipe reads.
const (
	formatPipe   = "pipe"
	formatGitLab = "gitlab"
	formatGitHub = "github"
)

// loadFile reads a pipeline file of any format: a .pipe.yml is parsed, a
// GitLab CI file or a GitHub Actions workflow is translated (its warnings
// printed to stderr).
func loadFile(o *output, path string, src source, targets []string) (*pipeline.Pipeline, error) {
	tr, err := translateFile(path, src, targets)
	if err != nil {
		return nil, err
	}
	printWarnings(o, tr.Warnings)
	return tr.Pipeline, nil
}

// translateFile reads and translates a pipeline file. A .pipe.yml gives
// itself as its YAML.
func translateFile(path string, src source, targets []string) (*formats.Translation, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read pipeline: %w", err)
	}
	switch detectFormat(path, data) {
	case formatGitHub:
		ctx, err := formatsContext(path, src, targets)
		if err != nil {
			return nil, err
		}
		return github.Translate(path, data, ctx)
	case formatGitLab:
		ctx, err := formatsContext(path, src, targets)
		if err != nil {
			return nil, err
		}
		return gitlab.Translate(path, data, ctx)
	}
	p, err := pipeline.Parse(path, data)
	if err != nil {
		return nil, err
	}
	return &formats.Translation{Pipeline: p, YAML: data}, nil
}

// printWarnings prints a translation's warnings, one per line.
func printWarnings(o *output, list pipeline.ErrorList) {
	for _, w := range list {
		fmt.Fprintf(o.stderr, "%s %s %s", o.bold(w.Pos.String()+":"), o.yellow("warning:"), w.Msg)
		if w.Hint != "" {
			fmt.Fprintf(o.stderr, " %s", o.faint("("+w.Hint+")"))
		}
		fmt.Fprintln(o.stderr)
	}
}

// detectFormat tells the format of a file: by its name (.gitlab-ci.yml,
// *.gitlab-ci.yml, .github/workflows/*.yml), else by its content (a
// .pipe.yml has version: and steps:, a workflow has on: or jobs with
// runs-on:, a GitLab file has stages: or jobs with script:).
func detectFormat(file string, data []byte) string {
	slash := filepath.ToSlash(file)
	base := path.Base(slash)
	ext := path.Ext(base)
	switch {
	case base == ".gitlab-ci.yml" || strings.HasSuffix(base, ".gitlab-ci.yml") || strings.HasSuffix(base, ".gitlab-ci.yaml"):
		return formatGitLab
	case (ext == ".yml" || ext == ".yaml") && (strings.Contains(slash, ".github/workflows/") || strings.HasPrefix(slash, "workflows/") && path.Base(path.Dir(path.Dir(slash))) == ".github"):
		return formatGitHub
	}
	return formatOfContent(data)
}

func formatOfContent(data []byte) string {
	if hasPipeTopKey(data) {
		return formatPipe // what decodedFormat says too, without decoding the file twice
	}
	return decodedFormat(data)
}

// decodedFormat tells the format from the top-level keys of the decoded file.
func decodedFormat(data []byte) string {
	var top map[string]yaml.Node
	if yaml.Unmarshal(data, &top) != nil || top == nil {
		return formatPipe
	}
	if _, ok := top["version"]; ok {
		return formatPipe
	}
	if _, ok := top["steps"]; ok {
		return formatPipe
	}
	if _, ok := top["on"]; ok {
		if _, jobs := top["jobs"]; jobs {
			return formatGitHub
		}
	}
	if jobs, ok := top["jobs"]; ok && hasJobKey(&jobs, "runs-on") {
		return formatGitHub
	}
	if _, ok := top["stages"]; ok {
		return formatGitLab
	}
	for _, v := range top {
		if hasKey(&v, "script") {
			return formatGitLab
		}
	}
	return formatPipe
}

// hasPipeTopKey reports whether data's first YAML document has a
// top-level "version:" or "steps:" key, as formatOfContent's decoding would
// find, without decoding: a line starting with the plain key is one, in a
// block mapping, as long as no line before it leaves a quoted scalar or a
// flow collection open (which may go on at the start of a line). A false
// answer means "decode to tell".
func hasPipeTopKey(data []byte) bool {
	started := false
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte("\n"))
		data = rest
		if bytes.HasPrefix(line, []byte("---")) || bytes.HasPrefix(line, []byte("...")) {
			if started {
				return false // the first document ended
			}
			continue
		}
		for _, key := range []string{"version:", "steps:"} {
			if k, ok := bytes.CutPrefix(line, []byte(key)); ok && (len(k) == 0 || k[0] == ' ' || k[0] == '\t' || k[0] == '\r') {
				return true
			}
		}
		if !closedLine(line) {
			return false
		}
		started = started || len(line) > 0 && line[0] != '#' && line[0] != '%'
	}
	return false
}

// closedLine reports whether line leaves no quoted scalar or flow
// collection open (a comment ends it).
func closedLine(line []byte) bool {
	var quote byte
	depth := 0
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote == '"' && c == '\\':
			i++
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return depth == 0
		case c == '"' || c == '\'':
			quote = c
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
		}
	}
	return quote == 0 && depth == 0
}

func hasJobKey(jobs *yaml.Node, key string) bool {
	for i := 1; jobs.Kind == yaml.MappingNode && i < len(jobs.Content); i += 2 {
		if hasKey(jobs.Content[i], key) {
			return true
		}
	}
	return false
}

func hasKey(n *yaml.Node, key string) bool {
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

// checkoutDir is the repository a pipeline file's directory belongs to: a
// workflow in .github/workflows belongs to the directory holding .github.
func checkoutDir(dir string) string {
	if filepath.Base(dir) == "workflows" && filepath.Base(filepath.Dir(dir)) == ".github" {
		return filepath.Dir(filepath.Dir(dir))
	}
	return dir
}

// formatsContext fills a translation's Context from the local git state of
// the file's checkout, the environment, and the command line.
func formatsContext(file string, src source, targets []string) (formats.Context, error) {
	var ctx formats.Context
	platforms, err := parsePlatforms(src.platforms)
	if err != nil {
		return ctx, err
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return ctx, fmt.Errorf("pipeline %s: %w", file, err)
	}
	repo := checkoutDir(filepath.Dir(abs))
	bg := context.Background()
	trig, _ := executor.DetectTrigger(bg, repo, "", os.Getenv)
	ctx = formats.Context{
		SHA:         gitLine(bg, repo, "rev-parse", "HEAD"),
		Branch:      trig.Branch,
		Event:       trig.Event,
		Changed:     trig.Changed,
		ProjectName: filepath.Base(repo),
		Selected:    targets,
		Env:         os.LookupEnv,
		Platforms:   platforms,
	}
	if ctx.Branch == "HEAD" {
		ctx.Branch = ""
	}
	if ctx.SHA != "" {
		ctx.BeforeSHA = gitLine(bg, repo, "rev-parse", "--verify", "--quiet", "HEAD^")
		ctx.Tag = gitLine(bg, repo, "describe", "--tags", "--exact-match", "HEAD")
	}
	if t := os.Getenv("GITHUB_REF_TYPE"); t == "tag" && os.Getenv("GITHUB_REF_NAME") != "" {
		ctx.Tag = os.Getenv("GITHUB_REF_NAME")
	}
	if ctx.Tag != "" && ctx.Event == pipeline.EventPush {
		ctx.Event = pipeline.EventTag
	}
	files := repoFiles{dir: repo}
	ctx.ReadFile, ctx.Glob = files.readFile, files.glob
	return ctx, nil
}

func gitLine(ctx context.Context, repo string, args ...string) string {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", repo}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// parsePlatforms reads --platform LABEL=IMAGE flags.
func parsePlatforms(flags []string) (map[string]string, error) {
	out := map[string]string{}
	for _, f := range flags {
		label, img, ok := strings.Cut(f, "=")
		if !ok || label == "" || img == "" {
			return nil, usageError("--platform %q: write LABEL=IMAGE, e.g. --platform ubuntu-latest=IMAGE", f)
		}
		out[label] = img
	}
	return out, nil
}

// repoFiles reads the files of a repository for a translation, never
// outside it (os.Root refuses .. and symlinks that lead out).
type repoFiles struct{ dir string }

func (r repoFiles) readFile(name string) ([]byte, error) {
	if !fs.ValidPath(name) {
		return nil, fmt.Errorf("%s: not a path inside the repository", name)
	}
	root, err := os.OpenRoot(r.dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return root.ReadFile(name)
}

// glob lists the repository files matching a glob (** spans directories),
// leaving out .git.
func (r repoFiles) glob(pattern string) ([]string, error) {
	root, err := os.OpenRoot(r.dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	var out []string
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && d.Name() == ".git" {
			return fs.SkipDir
		}
		if d.Type().IsRegular() && pipeline.MatchGlob(pattern, p) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return out, nil
}

// otherPipelines lists the CI files pipe can translate in the nearest
// directory from wd up that has some (.gitlab-ci.yml, .github/workflows/),
// relative to wd, at most 3: what to suggest when there is no .pipe.yml.
func otherPipelines(wd string) []string {
	for dir := wd; ; dir = filepath.Dir(dir) {
		var found []string
		if fi, err := os.Stat(filepath.Join(dir, ".gitlab-ci.yml")); err == nil && !fi.IsDir() {
			found = append(found, filepath.Join(dir, ".gitlab-ci.yml"))
		}
		for _, ext := range []string{"*.yml", "*.yaml"} {
			m, _ := filepath.Glob(filepath.Join(dir, ".github", "workflows", ext))
			found = append(found, m...)
		}
		if len(found) > 0 {
			out := make([]string, 0, 3)
			for _, f := range found[:min(len(found), 3)] {
				if rel, err := filepath.Rel(wd, f); err == nil {
					f = rel
				}
				out = append(out, f)
			}
			return out
		}
		if filepath.Dir(dir) == dir {
			return nil
		}
	}
}
