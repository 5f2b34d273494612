package executor

import (
	"context"
	"sync"

	"github.com/pipe-run/pipe/cache"
)

// podState is what a run that runs pods shares between its steps: the
// layers and images made pullable so far (each once per run, however many
// steps use it, and a second step waits for the first's push rather than
// pushing it again), and the node each step ran on.
type podState struct {
	mu     sync.Mutex
	layers map[string]*podPush[cache.LayerBlob] // by dir
	images map[string]*podPush[string]          // by image digest
	nodes  map[string]string                    // step -> node
	// volumes serialises packing and applying cache volumes (pod_volumes.go).
	volumes sync.Mutex
}

// podPush is one push, done once: later callers wait for it and share its
// result. A push that failed is tried again by the next caller (the
// registry may be back), not remembered.
type podPush[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// once returns m[key]'s value, running push when no caller has it or is
// pushing it now.
func once[T any](ctx context.Context, mu *sync.Mutex, m *map[string]*podPush[T], key string, push func() (T, error)) (T, error) {
	for {
		mu.Lock()
		if *m == nil {
			*m = map[string]*podPush[T]{}
		}
		p, ok := (*m)[key]
		if !ok {
			p = &podPush[T]{done: make(chan struct{})}
			(*m)[key] = p
			mu.Unlock()
			p.val, p.err = push()
			if p.err != nil {
				mu.Lock()
				delete(*m, key)
				mu.Unlock()
			}
			close(p.done)
			return p.val, p.err
		}
		mu.Unlock()
		select {
		case <-p.done:
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
		if p.err == nil {
			return p.val, nil
		}
		// it failed: try again ourselves
	}
}

// podLayer makes dir a layer blob the pods fetch, once per run.
func (r *run) podLayer(ctx context.Context, dir string) (cache.LayerBlob, error) {
	return once(ctx, &r.pods.mu, &r.pods.layers, dir, func() (cache.LayerBlob, error) {
		return r.o.Pods.Layer(ctx, dir)
	})
}

// podImage returns the reference pods pull img by, asked once per run.
func (r *run) podImage(ctx context.Context, img *cache.Image) (string, error) {
	return once(ctx, &r.pods.mu, &r.pods.images, img.Digest.String(), func() (string, error) {
		return r.o.Pods.Image(ctx, img)
	})
}

// ranOn records the node a step's pod ran on.
func (p *podState) ranOn(step, node string) {
	if node == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nodes == nil {
		p.nodes = map[string]string{}
	}
	p.nodes[step] = node
}

// nodeOf is the node the last of steps that ran in a pod ran on, or "":
// a step prefers it, where the images and the layers it needs may be warm.
func (p *podState) nodeOf(steps []string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(steps) - 1; i >= 0; i-- {
		if n := p.nodes[steps[i]]; n != "" {
			return n
		}
	}
	return ""
}
