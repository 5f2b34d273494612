package executor

import (
	"fmt"
	"sort"

	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/pipeline"
)

// computeKey sets the step's key (and whether it is impure) from everything
// that can change its result; see StepKey. The keys of the steps it needs are
// known: they finished before it started. A dependency that failed (with
// allow_failure, or before a when: status: failure|always step) counts as
// "<key>:failed" (and one skipped or canceled as "<key>:skipped",
// "<key>:canceled"), so that the step's result is never reused for a run in
// which that dependency succeeded.
// Services change a step's result too: each is one entry of
// KeyInput.Services (serviceKeys).
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
		if d.status != runlog.StatusOK && d.status != runlog.StatusCached {
			k += ":" + string(d.status) // failed, or skipped and canceled before when: status: always
		}
		deps = append(deps, k)
	}
	env := append(s.Environ(), r.o.Env...)
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
		NoOutputs:   s.Outputs != nil && len(s.Outputs) == 0,

		OutputsFrom: s.OutputsFrom, OutputsFromSet: s.OutputsFrom != nil,
		Caches:   caches,
		Services: r.serviceKeys(s),
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

// serviceKeys encodes the step's services for its key: per service its
// name, image digest, whether its command runs in a shell, its command, its
// env (sorted), its readiness check, and its args and aliases when it has some.
func (r *run) serviceKeys(s *pipeline.Step) []string {
	var out []string
	for _, svc := range s.Services {
		img := r.images[svc.Image]
		env := svc.Environ()
		sort.Strings(env)
		fields := []string{svc.Name, img.Digest.String(), fmt.Sprint(svc.CommandShell),
			KeyList(svc.Command...), KeyList(env...), readyKey(svc.Ready)}
		if len(svc.Args) > 0 || len(svc.Aliases) > 0 { // only then: older keys stay as they were
			fields = append(fields, KeyList(svc.Args...), KeyList(svc.Aliases...))
		}
		out = append(out, KeyList(fields...))
	}
	return out
}

func readyKey(rd *pipeline.Ready) string {
	if rd == nil {
		return ""
	}
	return rd.Run
}
