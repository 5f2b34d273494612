package executor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/executor/kept"
	"github.com/pipe-run/pipe/isolation"
	"github.com/pipe-run/pipe/pipeline"
)

// fakePods is a PodRuntime whose "registry" is a dir of copied layer
// trees and whose pods are containers of the fake runtime: the image's
// layers as root, the pod's workspace layers as the /workspace overlay,
// what the container wrote as the pushed diff. It records every call, so
// tests can check what the executor asks of a cluster (once per layer, no
// secret in the env) and what it does with the answers (hook).
type fakePods struct {
	rt  *fakeRuntime
	dir string

	mu     sync.Mutex
	images map[string]*cache.Image // ref -> image
	blobs  map[v1.Hash]string      // digest -> copied tree
	seq    int
	// calls
	imageCalls map[string]int // by image ref
	layerCalls map[string]int // by dir
	steps      []*PodStep
	diffs      int
	// hook, if set, may change the result of a pod (OOM, a cluster
	// failure) or fail Run (err).
	hook func(ps *PodStep, res *PodResult) error
}

func newFakePods(dir string) *fakePods {
	return &fakePods{rt: newFakeRuntime(filepath.Join(dir, "rt")), dir: dir, images: map[string]*cache.Image{},
		blobs: map[v1.Hash]string{}, imageCalls: map[string]int{}, layerCalls: map[string]int{}}
}

func (f *fakePods) Image(ctx context.Context, img *cache.Image) (string, error) {
	ref := "fake.registry/cache@" + img.Digest.String()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[ref] = img
	f.imageCalls[img.Ref]++
	return ref, nil
}

func (f *fakePods) Layer(ctx context.Context, dir string) (cache.LayerBlob, error) {
	f.mu.Lock()
	f.layerCalls[dir]++
	f.mu.Unlock()
	return f.store(dir)
}

// store copies an overlay-form tree into the fake registry.
func (f *fakePods) store(dir string) (cache.LayerBlob, error) {
	f.mu.Lock()
	f.seq++
	n := f.seq
	f.mu.Unlock()
	dst := filepath.Join(f.dir, fmt.Sprintf("blob%d", n))
	if err := kept.LinkTree(dir, dst); err != nil {
		return cache.LayerBlob{}, err
	}
	sum := sha256.Sum256([]byte(dst))
	h := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	f.mu.Lock()
	f.blobs[h] = dst
	f.mu.Unlock()
	return cache.LayerBlob{Digest: h, DiffID: h, Size: 1, MediaType: types.OCILayerZStd}, nil
}

func (f *fakePods) Run(ctx context.Context, ps *PodStep) (*PodResult, error) {
	f.mu.Lock()
	f.steps = append(f.steps, ps)
	img := f.images[ps.Image]
	var lowers []string
	for _, l := range ps.Workspace {
		lowers = append(lowers, f.blobs[l.Digest])
	}
	var volLowers []string
	for _, v := range ps.Volumes {
		volLowers = append(volLowers, f.blobs[v.Layer.Digest])
	}
	f.mu.Unlock()
	if img == nil {
		return nil, fmt.Errorf("fake pods: image %s was never made pullable", ps.Image)
	}
	upper, work := filepath.Join(f.dir, ps.ID, "upper"), filepath.Join(f.dir, ps.ID, "work")
	os.MkdirAll(upper, 0o755)
	os.MkdirAll(work, 0o755)
	env := append([]string(nil), ps.Env...)
	for k, v := range ps.Secrets {
		env = append(env, k+"="+v)
	}
	spec := &isolation.Spec{ID: ps.ID, Root: isolation.Overlay{Lower: img.Layers},
		Mounts:  []isolation.Mount{{Type: isolation.MountOverlay, Target: pipeline.Workspace, Overlay: isolation.Overlay{Lower: lowers, Upper: upper, Work: work}}},
		Process: isolation.Process{Args: ps.Args, Env: env, Dir: ps.Dir, Stdout: ps.Stdout, Stderr: ps.Stdout}}
	// A cache volume is an overlay of its layer, as pipe-init applies it
	// onto an emptyDir; its upper dir is the diff pipe-push pushes.
	var volUppers []string
	for i, v := range ps.Volumes {
		vu, vw := filepath.Join(f.dir, ps.ID, fmt.Sprintf("vol%d", i)), filepath.Join(f.dir, ps.ID, fmt.Sprintf("volwork%d", i))
		os.MkdirAll(vu, 0o755)
		os.MkdirAll(vw, 0o755)
		volUppers = append(volUppers, vu)
		spec.Mounts = append(spec.Mounts, isolation.Mount{Type: isolation.MountOverlay, Target: v.Path,
			Overlay: isolation.Overlay{Lower: volLowers[i : i+1], Upper: vu, Work: vw}})
	}
	tctx, cancel := context.WithTimeout(ctx, ps.Timeout)
	defer cancel()
	c, err := f.rt.Start(tctx, spec)
	if err != nil {
		return nil, err
	}
	res, werr := c.Wait()
	c.Destroy()
	if werr != nil {
		return nil, werr
	}
	out := &PodResult{ExitCode: res.ExitCode, TimedOut: res.TimedOut, Canceled: res.Canceled, Node: "fake-node"}
	if ps.Pids > 0 {
		out.Notes = append(out.Notes, "pids limit not applied") // as kube says it
	}
	if ps.Note != nil {
		ps.Note("pod " + ps.ID + ": Running")
	}
	if l, err := f.store(upper); err == nil {
		out.Diff = &l
	}
	for _, vu := range volUppers {
		var d *cache.LayerBlob
		if ents, _ := os.ReadDir(vu); len(ents) > 0 {
			l, err := f.store(vu)
			if err != nil {
				return nil, err
			}
			d = &l
		}
		out.Volumes = append(out.Volumes, d)
	}
	if f.hook != nil {
		if err := f.hook(ps, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (f *fakePods) Diff(ctx context.Context, l cache.LayerBlob, dir string) error {
	f.mu.Lock()
	src, ok := f.blobs[l.Digest]
	f.diffs++
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("fake pods: no blob %s", l.Digest)
	}
	return kept.LinkTree(src, dir)
}

// podSteps returns the attempts run so far.
func (f *fakePods) podSteps() []*PodStep {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*PodStep(nil), f.steps...)
}
