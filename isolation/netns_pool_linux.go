package isolation

import (
	"os"
	"sync"
)

// netnsPoolSize is how many fresh network namespaces are kept ready.
const netnsPoolSize = 2

// netnsPool keeps a few fresh, never-used network namespaces (lo up, made
// by a background goroutine) so that a container with network none joins
// one instead of creating its own on its start path: creating a network
// namespace is the most expensive part of a container's start. Each
// namespace is handed out once, so containers never share one through the
// pool. It holds them by fd only: nothing is left if pipe dies.
type netnsPool struct {
	ready  chan *os.File
	refill chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup
	maker  *netnsMaker
}

func newNetnsPool(size int, m *netnsMaker) *netnsPool {
	p := &netnsPool{ready: make(chan *os.File, size), refill: make(chan struct{}, 1), done: make(chan struct{}), maker: m}
	p.wg.Add(1)
	go p.run()
	return p
}

// run keeps the pool full until close. When a namespace cannot be made it
// stops: take then returns nil, and containers make their own.
func (p *netnsPool) run() {
	defer p.wg.Done()
	for {
		for len(p.ready) < cap(p.ready) {
			f, err := makeNetNS(p.maker)
			if err != nil {
				return
			}
			select {
			case p.ready <- f:
			case <-p.done:
				f.Close()
				return
			}
		}
		select {
		case <-p.refill:
		case <-p.done:
			return
		}
	}
}

// take returns a fresh network namespace for the caller to own, or nil when
// none is ready.
func (p *netnsPool) take() *os.File {
	var f *os.File
	select {
	case f = <-p.ready:
	default:
	}
	select {
	case p.refill <- struct{}{}:
	default:
	}
	return f
}

// close stops the refilling and closes the namespaces not taken.
func (p *netnsPool) close() {
	close(p.done)
	p.wg.Wait()
	for {
		select {
		case f := <-p.ready:
			f.Close()
		default:
			return
		}
	}
}
