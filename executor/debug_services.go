package executor

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/kept"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/isolation"
	"github.com/pipe-run/pipe/pipeline"
)

// The services of a kept failure: record.json holds each service of the
// failed step as it was started (image by digest and extracted layers, argv,
// env, working dir, user, ready check), and pipe debug --last starts them
// again, exactly as a step's services start (startServices): in a fresh
// network namespace that the reopened container joins, each name resolving
// to 127.0.0.1, ready checks passed before the shell opens. They are stopped
// when the shell exits. Their state is fresh: what the services held when
// the step failed is not kept.

// keptServices records the services of s as startService starts them.
func (r *run) keptServices(s *pipeline.Step) []kept.Service {
	out := make([]kept.Service, 0, len(s.Services))
	for _, def := range s.Services {
		img := r.images[def.Image]
		if img == nil {
			continue
		}
		env := WithDefaultPath(DedupEnv(append(imageEnv(img.Config), def.Environ()...)))
		ks := kept.Service{Name: def.Name, Image: img.Ref, ImageDigest: img.Digest.String(), ImageLayers: img.Layers,
			Args: serviceArgs(def, img.Config), Env: r.withoutSecretValues(env), Dir: ImageWorkdir(img.Config), User: imageUser(img)}
		if rd := def.Ready; rd != nil {
			ks.Ready = &kept.Ready{Run: rd.Run, Interval: rd.Interval, Timeout: rd.Timeout, Retries: rd.Retries}
		}
		ks.Aliases = def.Aliases
		if def.WaitPorts {
			ks.WaitPorts = exposedPorts(img.Config)
		}
		out = append(out, ks)
	}
	return out
}

// withoutSecretValues drops the entries of env that hold a secret's value
// (the pipeline forbids secrets in env, so this is a second guard).
func (r *run) withoutSecretValues(env []string) []string {
	out := make([]string, 0, len(env))
	for _, e := range env {
		if r.masker.Mask(e) == e {
			out = append(out, e)
		}
	}
	return out
}

// startKeptServices starts the kept services again, points spec at their
// network and waits until they are ready. The returned set is never nil;
// stop it when the shell is over.
func (r *run) startKeptServices(ctx context.Context, rec *kept.Record, spec *isolation.Spec, log *runlog.StepLog) (*serviceSet, error) {
	step := &pipeline.Step{Name: rec.Step}
	if rec.Network == string(isolation.NetworkHost) {
		step.Network = pipeline.NetworkHost
	}
	r.images = map[string]*cache.Image{}
	for _, ks := range rec.Services {
		def, img, err := keptServiceDef(&ks)
		if err != nil {
			return &serviceSet{}, fmt.Errorf("kept failure of step %s: %w", rec.Step, err)
		}
		step.Services = append(step.Services, def)
		r.images[def.Image] = img
	}
	set, err := r.startServices(ctx, &stepState{step: step, attempt: 1}, spec, log)
	if err != nil {
		return set, err
	}
	return set, set.waitReady(ctx)
}

// keptServiceDef is the definition and image startService needs: the recorded
// argv and env, under an image whose config gives the recorded dir and user.
func keptServiceDef(ks *kept.Service) (*pipeline.Service, *cache.Image, error) {
	digest, err := v1.NewHash(ks.ImageDigest)
	if err != nil {
		return nil, nil, fmt.Errorf("service %s: image digest %q: %w", ks.Name, ks.ImageDigest, err)
	}
	key := ks.Image + "@" + ks.ImageDigest + " (service " + ks.Name + ")"
	def := &pipeline.Service{Name: ks.Name, Image: key, Command: ks.Args, Aliases: ks.Aliases, WaitPorts: len(ks.WaitPorts) > 0}
	for _, e := range ks.Env {
		k, v, _ := cutEnv(e)
		def.Env = append(def.Env, pipeline.EnvVar{Name: k, Value: v})
	}
	if rd := ks.Ready; rd != nil {
		def.Ready = &pipeline.Ready{Run: rd.Run, Interval: rd.Interval, Timeout: rd.Timeout, Retries: rd.Retries}
	}
	cfg := &v1.ConfigFile{Config: v1.Config{WorkingDir: ks.Dir, User: ks.User}}
	if len(ks.WaitPorts) > 0 {
		cfg.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range ks.WaitPorts {
			cfg.Config.ExposedPorts[p+"/tcp"] = struct{}{}
		}
	}
	return def, &cache.Image{Ref: ks.Image, Digest: digest, Config: cfg, Layers: ks.ImageLayers}, nil
}
