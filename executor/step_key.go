package executor

import (
	"fmt"
	"sort"

	"github.com/pipe-run/pipe/pipeline"
)

// computeKey sets the step's key (and whether it is impure) from everything
// that can change its result; see StepKey. The keys of the steps it needs are
// known: they finished before it started. A dependency that failed (with
// allow_failure) counts as "<key>:failed", so that the step's result is never
// reused for a run in which that dependency succeeded.
//
// Services change a step's result too, and KeyInput has no field for them
// yet: each service is folded into Env under the name "pipe.service.<name>",
// which no real variable can have (a dot is not allowed in env names), with
// its image digest, command and env.
func (r *run) computeKey(st *stepState) error {
	s := st.step
	img := r.images[s.Image]
	ws := r.snap.keys.Load()
	inputs, err := ws.Digest(s.Inputs)
	if err != nil {
		return fmt.Errorf("step %s: digest of its inputs: %w", s.Name, err)
	}
	var deps []string
	for _, name := range s.Needs {
		d := r.states[r.index[name]]
		k := d.key
		if d.status == StatusFailed {
			k += ":failed"
		}
		deps = append(deps, k)
	}
	env := append(append(s.Environ(), r.o.Env...), r.serviceKeyEnv(s)...)
	caches := make([]string, len(s.Caches))
	for i, c := range s.Caches {
		caches[i] = c.Name + "=" + c.Path
	}
	st.key = StepKey(KeyInput{
		ImageDigest: img.Digest.String(),
		Run:         s.Run,
		Shell:       scriptShell + scriptForm(s),
		Env:         env,
		Secrets:     s.Secrets,
		Inputs:      inputs,
		Deps:        deps,
		Workdir:     s.Workdir,
		User:        s.User,
		Network:     string(s.Network),
		Outputs:     s.Outputs,
		Caches:      caches,
	})
	st.impure = s.Network == pipeline.NetworkHost
	st.keyWS = ws
	return nil
}

// scriptForm tells a script from a list of one command in the key.
func scriptForm(s *pipeline.Step) string {
	if s.Script {
		return " script"
	}
	return " list"
}

// serviceKeyEnv encodes the step's services for its key.
func (r *run) serviceKeyEnv(s *pipeline.Step) []string {
	var out []string
	for _, svc := range s.Services {
		img := r.images[svc.Image]
		env := svc.Environ()
		sort.Strings(env)
		out = append(out, fmt.Sprintf("pipe.service.%s=%s|%t|%q|%q|%s", svc.Name, img.Digest, svc.CommandShell,
			svc.Command, env, readyKey(svc.Ready)))
	}
	return out
}

func readyKey(rd *pipeline.Ready) string {
	if rd == nil {
		return ""
	}
	return rd.Run
}
