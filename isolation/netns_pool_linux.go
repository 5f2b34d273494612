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
// pool. It holds them by fd only: nothing is left if pipe dies. As the
// init pool does, it makes no more than the containers still to come
// (expect), and until it is told, one: the Runtime is opened because one is
// coming; making more than will be used costs their creation and teardown.
type netnsPool struct {
	ready  chan *os.File
	refill chan struct{}
	done   chan struct{}
	wg     sync.WaitGroup
	maker  *netnsMaker

	mu   sync.Mutex
	want int // containers still to come, next one included; -1 until expect
}

func newNetnsPool(size int, m *netnsMaker) *netnsPool {
	p := &netnsPool{ready: make(chan *os.File, size), refill: make(chan struct{}, 1), done: make(chan struct{}), maker: m, want: -1}
	p.wg.Add(1)
	go p.run()
	return p
}

// run keeps the pool full until close. When a namespace cannot be made it
// stops: take then returns nil, and containers make their own.
func (p *netnsPool) run() {
	defer p.wg.Done()
	for {
		for len(p.ready) < p.wanted() {
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

// wanted is how many namespaces to keep ready now.
func (p *netnsPool) wanted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.want < 0 {
		return min(1, cap(p.ready))
	}
	return min(p.want, cap(p.ready))
}

// expect says that n more containers are to start, the next one included.
func (p *netnsPool) expect(n int) {
	p.mu.Lock()
	p.want = max(n, 0)
	p.mu.Unlock()
	select {
	case p.refill <- struct{}{}:
	default:
	}
}

// take returns a fresh network namespace for the caller to own, or nil when
// none is ready.
func (p *netnsPool) take() *os.File {
	p.mu.Lock()
	if p.want > 0 {
		p.want--
	}
	p.mu.Unlock()
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
