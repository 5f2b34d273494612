package executor

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/pipeline"
)

// podStep describes st's attempt for a pod: the local container's spec
// (stepSpec: the same script, env, working dir, user and limits), its
// image and workspace made pullable, its services.
func (r *run) podStep(ctx context.Context, st *stepState, log *runlog.StepLog) (*PodStep, error) {
	s := st.step
	img := r.images[s.Image]
	spec := r.stepSpec(st, nil, "", "")
	ref, err := r.podImage(ctx, img)
	if err != nil {
		return nil, fmt.Errorf("step %s: image %s: %w", s.Name, s.Image, err)
	}
	user, err := imageUserIDs(img, spec.Process.User)
	if err != nil {
		return nil, fmt.Errorf("%s: step %s: user: %w", s.Pos, s.Name, err)
	}
	ps := &PodStep{Name: s.Name, ID: r.podID(s, st.attempt), Image: ref,
		Args: spec.Process.Args, Env: withoutNames(spec.Process.Env, s.Secrets), Secrets: r.stepSecrets(s),
		Dir: spec.Process.Dir, User: user, CPU: s.Resources.CPUs, Memory: s.Resources.Memory, Pids: s.Resources.Pids,
		Timeout: s.Timeout, NetworkNone: s.Network != pipeline.NetworkHost, PreferNode: r.pods.nodeOf(r.neededNames(s))}
	if ps.Workspace, err = r.podWorkspace(ctx, st); err != nil {
		return nil, fmt.Errorf("step %s: workspace: %w", s.Name, err)
	}
	if ps.Services, err = r.podServices(ctx, s); err != nil {
		return nil, err
	}
	podLimitNotes(s, log)
	return ps, nil
}

// stepSecrets are the values of the step's own secrets.
func (r *run) stepSecrets(s *pipeline.Step) map[string]string {
	if len(s.Secrets) == 0 {
		return nil
	}
	out := make(map[string]string, len(s.Secrets))
	for _, name := range s.Secrets {
		out[name] = r.o.Secrets[name]
	}
	return out
}

// podLimitNotes says which of the step's resources a pod does not apply
// and the runtime does not know of (it says so of the others: pids).
func podLimitNotes(s *pipeline.Step, log *runlog.StepLog) {
	if s.Resources.IORead > 0 || s.Resources.IOWrite > 0 {
		log.Note("resources: io_read and io_write are not applied to pods (Kubernetes has no per-pod disk bandwidth limit)")
	}
}

// podWorkspace makes the step's workspace lowers (workspaceLowers: the
// snapshot, then the output layers of what it needs) layers the pod fetches.
func (r *run) podWorkspace(ctx context.Context, st *stepState) ([]cache.LayerBlob, error) {
	lowers := r.workspaceLowers(st)
	out := make([]cache.LayerBlob, 0, len(lowers))
	for _, dir := range lowers {
		l, err := r.podLayer(ctx, dir)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

// podServices describes the step's services as startService starts them.
func (r *run) podServices(ctx context.Context, s *pipeline.Step) ([]PodService, error) {
	out := make([]PodService, 0, len(s.Services))
	for _, def := range s.Services {
		img := r.images[def.Image]
		args := serviceArgs(def, img.Config)
		if len(args) == 0 {
			return nil, fmt.Errorf("%s: service %s: image %s has no command: set command:", def.Pos, def.Name, def.Image)
		}
		ref, err := r.podImage(ctx, img)
		if err != nil {
			return nil, fmt.Errorf("step %s: service %s: image %s: %w", s.Name, def.Name, def.Image, err)
		}
		sv := PodService{Name: def.Name, Aliases: def.Aliases, Image: ref, Args: args,
			Env: WithDefaultPath(DedupEnv(append(imageEnv(img.Config), def.Environ()...)))}
		if rd := def.Ready; rd != nil {
			sv.Ready = []string{pipeline.Shell, "-c", rd.Run}
			sv.ReadyInterval = orDur(rd.Interval, pipeline.DefaultReadyInterval)
			sv.ReadyTimeout = orDur(rd.Timeout, pipeline.DefaultReadyTimeout)
			sv.ReadyRetries = rd.Retries
			if sv.ReadyRetries < 1 {
				sv.ReadyRetries = pipeline.DefaultReadyRetries
			}
		} else if ports := exposedPorts(img.Config); def.WaitPorts && len(ports) > 0 {
			sv.Port, _ = strconv.Atoi(ports[0])
		}
		out = append(out, sv)
	}
	return out, nil
}

// podID names an attempt's pod: unique, a DNS-1123 label (lower-case
// letters, digits and '-', at most 63 characters), readable in kubectl.
func (r *run) podID(s *pipeline.Step, attempt int) string {
	run := dnsLabel(r.id)
	if len(run) > 8 {
		run = strings.Trim(run[len(run)-8:], "-")
	}
	return fmt.Sprintf("pipe-%s-%s-%d-%s", run, dnsLabelMax(s.Name, 30, "step"), attempt, randomHex(2))
}

// dnsLabel maps s to lower-case letters, digits and '-', without '-' at
// either end.
func dnsLabel(s string) string {
	return strings.Trim(strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			return c
		case c >= 'A' && c <= 'Z':
			return c + 'a' - 'A'
		}
		return '-'
	}, s), "-")
}

// dnsLabelMax is dnsLabel cut to max characters, else def when empty.
func dnsLabelMax(s string, max int, def string) string {
	l := dnsLabel(s)
	if len(l) > max {
		l = strings.Trim(l[:max], "-")
	}
	if l == "" {
		return def
	}
	return l
}

// neededNames are the names of the steps s needs, directly or not, in run
// order.
func (r *run) neededNames(s *pipeline.Step) []string {
	idx := r.ancestors(s)
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = r.steps[j].Name
	}
	return out
}
