package github

import (
	"fmt"
	"strings"

	"github.com/pipe-run/pipe/pipeline"
)

// jobScope is what expressions of one job combination may see, and what
// they used.
type jobScope struct {
	t       *translator
	j       *job
	c       combo
	ps      *pipeStep
	world   int             // 0: the job (or its needs) succeeded so far; 1: something failed
	env     map[string]any  // the env context: static strings, or *dyn for values known at run time
	stepIDs map[string]bool // ids of the earlier steps of the current step list
	prefix  string          // id prefix of the steps of a composite action
	inputs  map[string]any  // a composite action's inputs
	exprs   int             // variables made for run-time values in scripts
	n       int             // workflow steps numbered so far
	warned  map[string]bool // warnings given once per job
}

func (sc *jobScope) secretsContext() dynContext {
	return func(path []string) (any, error) {
		if len(path) != 1 {
			return nil, fmt.Errorf("write secrets.NAME")
		}
		name := path[0]
		if !pipeline.IsEnvName(name) {
			return nil, fmt.Errorf("secret %q is not a valid variable name", name)
		}
		t := sc.t
		if !contains(t.out.secrets, name) {
			t.out.secrets = append(t.out.secrets, name)
			if name == "GITHUB_TOKEN" {
				t.atD.warnf(t.at, "give a token in the environment (GITHUB_TOKEN=...) or in --secret-file, or remove what needs it",
					"secrets.GITHUB_TOKEN is the pipe secret GITHUB_TOKEN: pipe has no token of its own")
			}
		}
		if sc.ps != nil {
			sc.ps.secrets = addUnique(sc.ps.secrets, name)
		} else {
			t.wfSecrets = addUnique(t.wfSecrets, name)
		}
		return &dyn{word: "${" + name + "}"}, nil
	}
}

func (sc *jobScope) varsContext() dynContext {
	return func(path []string) (any, error) {
		if len(path) != 1 {
			return nil, fmt.Errorf("write vars.NAME")
		}
		if sc.t.ctx.Env != nil {
			if v, ok := sc.t.ctx.Env(path[0]); ok {
				return v, nil
			}
		}
		return nil, fmt.Errorf("vars.%s: pipe has no configuration variables; set %s in the environment pipe runs in", path[0], path[0])
	}
}

func (sc *jobScope) envContext() dynContext {
	return func(path []string) (any, error) {
		if len(path) == 0 {
			return sc.env, nil
		}
		if v, ok := sc.env[path[0]]; ok {
			if len(path) > 1 {
				return nil, nil
			}
			return v, nil
		}
		if !pipeline.IsEnvName(path[0]) || len(path) > 1 {
			return nil, nil
		}
		// set by an earlier step through $GITHUB_ENV, or not at all
		return &dyn{word: "${" + path[0] + "-}"}, nil
	}
}

func (sc *jobScope) needsContext() dynContext {
	return func(path []string) (any, error) {
		if len(path) == 0 {
			return nil, fmt.Errorf("write needs.JOB.outputs.NAME or needs.JOB.result")
		}
		job := path[0]
		if !contains(sc.j.needs, job) {
			if len(sc.j.needs) == 0 {
				return nil, fmt.Errorf("needs.%s: this job needs no job (add needs: [%s])", job, job)
			}
			return nil, fmt.Errorf("needs.%s: job %s is not in this job's needs (%s)", job, job, strings.Join(sc.j.needs, ", "))
		}
		if len(path) == 1 {
			return nil, fmt.Errorf("write needs.%s.outputs.NAME or needs.%s.result", job, job)
		}
		switch path[1] {
		case "result":
			if sc.world == 0 {
				return "success", nil
			}
			return "failure", nil
		case "outputs":
			if len(path) != 3 {
				return nil, fmt.Errorf("write needs.%s.outputs.NAME", job)
			}
			return &dyn{word: "$(cat " + shQuote(jobOutputFile(job, path[2])) + " 2>/dev/null || true)"}, nil
		}
		return nil, nil
	}
}

// jobOutputFile is where a job leaves an output for the jobs that need it.
func jobOutputFile(job, name string) string {
	return "/workspace/" + ShareDir + "/jobs/" + job + "/outputs/" + sanitizeName(name)
}

func (sc *jobScope) stepsContext() dynContext {
	return func(path []string) (any, error) {
		if len(path) < 2 {
			return nil, fmt.Errorf("write steps.ID.outputs.NAME, steps.ID.outcome or steps.ID.conclusion")
		}
		id := path[0]
		if !sc.stepIDs[id] {
			return nil, fmt.Errorf("steps.%s: no earlier step has id %s", id, id)
		}
		full := sc.prefix + id
		switch path[1] {
		case "outputs":
			if len(path) != 3 {
				return nil, fmt.Errorf("write steps.%s.outputs.NAME", id)
			}
			return &dyn{word: "$(__gh_get " + shQuote("out/"+full+"/"+sanitizeName(path[2])) + ")"}, nil
		case "outcome", "conclusion":
			return &dyn{word: "$(__gh_get " + shQuote(path[1]+"."+full) + ")"}, nil
		}
		return nil, nil
	}
}

// status answers the status functions in the scope's world.
func (sc *jobScope) status(name string) (any, error) {
	switch name {
	case "always":
		return true, nil
	case "cancelled":
		return false, nil
	case "success":
		return sc.world == 0, nil
	}
	return sc.world == 1, nil
}

// jobEval evaluates at the job level: the job's if, env, runs-on, container,
// services, name.
func (sc *jobScope) jobEval(where string) *evaluator {
	return &evaluator{contexts: map[string]any{
		"github":   githubContext(sc.t.ctx, sc.t.name, sc.j.id),
		"inputs":   sc.t.inputs,
		"vars":     sc.varsContext(),
		"secrets":  sc.secretsContext(),
		"matrix":   sc.c.context(),
		"strategy": sc.strategyContext(),
		"needs":    sc.needsContext(),
		"env":      sc.envContext(),
	}, status: sc.status, hashFiles: sc.t.hashFiles, where: where}
}

// stepEval evaluates at the step level.
func (sc *jobScope) stepEval(where string) *evaluator {
	e := sc.jobEval(where)
	e.contexts["steps"] = sc.stepsContext()
	e.contexts["runner"] = runnerContext()
	e.contexts["job"] = map[string]any{"status": "success"}
	if sc.inputs != nil {
		e.contexts["inputs"] = sc.inputs
	}
	return e
}

func (sc *jobScope) strategyContext() map[string]any {
	idx := 0
	for i, n := range sc.j.names {
		if n == sc.ps.name {
			idx = i
		}
	}
	return map[string]any{"fail-fast": true, "job-index": float64(idx), "job-total": float64(len(sc.j.names)), "max-parallel": float64(len(sc.j.names))}
}

// runText turns a run: script's evaluated text into shell text: values
// known only at run time become variables set before the script starts.
func (sc *jobScope) runText(t tmpl) (string, []string) {
	var b strings.Builder
	var exports []string
	for _, p := range t {
		if p.d == nil {
			b.WriteString(p.s)
			continue
		}
		if strings.HasPrefix(p.d.word, "${") && strings.HasSuffix(p.d.word, "}") && !strings.Contains(p.d.word[2:], "$") {
			b.WriteString(p.d.word)
			continue
		}
		sc.exprs++
		v := fmt.Sprintf("PIPE_GH_EXPR_%d", sc.exprs)
		exports = append(exports, "export "+v+"=\""+p.d.word+"\"")
		b.WriteString("${" + v + "}")
	}
	return b.String(), exports
}
