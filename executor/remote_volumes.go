package executor

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/runlog"
	"github.com/pipe-run/pipe/pipeline"
)

// VolumeSharer is what a RemoteCache may also do: carry cache volumes
// between machines (*cache.Shared does). A volume is restored before the
// first step of the run that mounts it, and pushed at the end of the run
// when it changed, unless a step given secrets mounted it (its files may
// hold them) and Options.RemotePushSecrets is not set.
type VolumeSharer interface {
	// RestoreVolume brings the named volume up to date from the registry;
	// a nil report: nothing to restore from.
	RestoreVolume(ctx context.Context, name string) (*cache.VolumeReport, error)
	// PushVolume pushes it when it changed; a nil report: nowhere to push.
	PushVolume(ctx context.Context, name, runID string) (*cache.VolumeReport, error)
}

// Remote volume operations, in Event.RemoteOp of EventRemote events (the
// volume's name is in Event.Volume).
const (
	RemoteVolumeRestore = "volume_restore" // a volume was brought up to date from a registry
	RemoteVolumePush    = "volume_push"    // a changed volume was pushed
)

// sharedVolume is one cache volume the run used.
type sharedVolume struct {
	once    sync.Once
	secrets bool // a step given secrets mounted it
}

// restoreVolumes restores the step's cache volumes that no step of this run
// has used yet; a step that shares one waits for its restore.
func (r *run) restoreVolumes(ctx context.Context, s *pipeline.Step, log *runlog.StepLog) {
	vs, ok := r.o.Remote.(VolumeSharer)
	if !ok || r.o.Remote == nil {
		return
	}
	for _, c := range s.Caches {
		v := r.sharedVolume(c.Name, len(s.Secrets) > 0)
		v.once.Do(func() {
			rep, err := vs.RestoreVolume(ctx, c.Name)
			if err != nil {
				r.remoteWarn(s.Name, err)
				return
			}
			if rep != nil && !rep.Missing && rep.Buckets > 0 {
				log.Note("cache volume %s: restored %d of %d buckets (%s) from %s", c.Name, rep.Buckets, cache.VolumeBuckets, sizeText(rep.Bytes), rep.Repo)
				r.emit(runlog.Event{Type: runlog.EventRemote, RemoteOp: RemoteVolumeRestore, Remote: rep.Repo, Step: s.Name, Volume: c.Name})
			}
		})
	}
}

// sharedVolume records that the run uses the volume.
func (r *run) sharedVolume(name string, secrets bool) *sharedVolume {
	rs := &r.remote
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.volumes == nil {
		rs.volumes = map[string]*sharedVolume{}
	}
	v := rs.volumes[name]
	if v == nil {
		v = &sharedVolume{}
		rs.volumes[name] = v
	}
	v.secrets = v.secrets || secrets
	return v
}

// pushVolumes pushes, in the background, the volumes the run used.
func (r *run) pushVolumes() {
	vs, ok := r.o.Remote.(VolumeSharer)
	if !ok || r.o.Remote.Writes() == "" || r.remote.ctx.Err() != nil {
		return // nowhere to push, or the run was interrupted
	}
	rs := &r.remote
	rs.mu.Lock()
	names := make([]string, 0, len(rs.volumes))
	for name, v := range rs.volumes {
		if v.secrets && !r.o.RemotePushSecrets {
			rs.kept = append(rs.kept, name)
			continue
		}
		names = append(names, name)
	}
	rs.mu.Unlock()
	sort.Strings(names)
	for _, name := range names {
		rs.wg.Add(1)
		go func() {
			defer rs.wg.Done()
			rep, err := vs.PushVolume(rs.ctx, name, r.id)
			r.volumePushed(name, rep, err)
		}()
	}
}

// volumePushed reports one volume push.
func (r *run) volumePushed(name string, rep *cache.VolumeReport, err error) {
	repo := r.o.Remote.Writes()
	if err != nil {
		rs := &r.remote
		rs.mu.Lock()
		rs.dropped = append(rs.dropped, "volume "+name)
		rs.mu.Unlock()
		if !errors.Is(err, cache.ErrRemoteOff) && !errors.Is(err, context.Canceled) {
			r.remoteWarn("", err)
		}
		r.emit(runlog.Event{Type: runlog.EventRemote, RemoteOp: RemoteDropped, Remote: repo, Volume: name, Error: err.Error()})
		return
	}
	if rep == nil || !rep.Changed {
		return
	}
	r.emit(runlog.Event{Type: runlog.EventRemote, RemoteOp: RemoteVolumePush, Remote: repo, Volume: name})
	note := fmt.Sprintf("remote cache %s: pushed cache volume %s (%s sent)", repo, name, sizeText(rep.Bytes))
	if rep.Merged > 0 {
		note += fmt.Sprintf("; merged %d bucket(s) another run pushed meanwhile", rep.Merged)
	}
	if rep.Lost > 0 {
		note += fmt.Sprintf("; replaced %d bucket(s) another run changed meanwhile: its update to them is lost", rep.Lost)
	}
	if rep.Replaced > 0 {
		note += fmt.Sprintf("; a push racing it replaced %d of its bucket(s): that update is lost until the next run pushes it again", rep.Replaced)
	}
	if rep.Capped > 0 {
		note += fmt.Sprintf("; %d oldest file(s) (%s) over the size cap stay local", rep.Capped, sizeText(rep.CappedSz))
	}
	r.notePipe(note)
}

// sizeText prints a byte count for people.
func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
