package isolation

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A container's start used to pay, on its own path, for what does not
// depend on its Spec: the clone of init into fresh namespaces, the exec of
// the (sealed) pipe binary and the Go runtime's start in it, and, on cgroup
// v1, the move of init into its cgroups. That move is the dearest part:
// the first write to a cgroup.procs after a quiet spell waits for an RCU
// grace period (the kernel switches cgroup_threadgroup_rwsem to its writer
// mode), 8-10 ms on the project's machines, longer than the rest of a start.
//
// So the Runtime starts inits ahead of time (Options.Prestart of them): each
// in its own cgroup, with the default limits, paused on its config as any
// init is. Start takes one, writes the Spec's limits into its cgroup and
// releases it. A Spec a prestarted init cannot serve (see usable) gets an
// init of its own, as before. The first one's record and cgroup are made as
// the Runtime opens, before the rest of its opening. On v1 no init is moved
// into its cgroup any more: each is born there (see startInV1).
//
// A prestarted init has a state record from the moment it exists, as any
// container does, so a killed pipe's leftovers are cleaned up the same way.
// Its network namespace is decided at release: it joins a prepared one, or
// unshares its own (initConfig.UnshareNet), or keeps the host's.

// minPrestartMemory is the smallest memory limit a prestarted init serves:
// the limit is written after init has started, and a limit below what init
// already uses would make the kernel reclaim from it or kill it.
const minPrestartMemory = 64 << 20

// preparedInit is an init started ahead of its container.
type preparedInit struct {
	name     string // of its record, cgroup and scratch dir
	cg       *cgroup
	cmd      *exec.Cmd
	conn     *conn
	stderr   *tailBuffer
	initDone chan struct{} // closed once init was reaped
	launched bool          // launch ran (else destroy closes initDone)
}

// usable says whether a prestarted init can become the container of s.
func usable(s *Spec) bool {
	return s.Limits.Memory == 0 || s.Limits.Memory >= minPrestartMemory
}

// prepareInit starts an init in fresh namespaces and its own cgroup; with
// early (see reserveEarly) in that one's record and cgroup.
func (r *Runtime) prepareInit(early *preparedInit) (*preparedInit, error) {
	p := early
	if p == nil {
		var err error
		if p, err = r.reserveInit(); err != nil {
			return nil, err
		}
	}
	if err := p.launch(r); err != nil {
		return nil, errors.Join(err, p.destroy(r))
	}
	return p, nil
}

// reserveInit makes the record and the cgroup of an init to start.
func (r *Runtime) reserveInit() (*preparedInit, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	p := &preparedInit{name: "pipe-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:]),
		stderr: &tailBuffer{max: 4096}, initDone: make(chan struct{})}
	scratch := filepath.Join(r.opts.ScratchDir, p.name)
	if err := writeRecord(containersDir(r.opts), stateRecord{Name: p.name, Owner: r.self, Scratch: scratch}); err != nil {
		return nil, err
	}
	var err error
	if p.cg, err = r.cg.create(p.name, Limits{}); err != nil {
		return nil, errors.Join(err, removeRecord(containersDir(r.opts), p.name))
	}
	return p, nil
}

// reserveEarly reserves the first prestarted init (its record and cgroup)
// as the Runtime opens, before the rest of its opening, so that the pool
// starts it as soon as it runs. nil when nothing is prestarted
// (Options.Prestart 0, rootless) or the reservation failed (the pool's own
// start then reports it).
func (r *Runtime) reserveEarly() *preparedInit {
	if r.opts.Prestart < 1 || r.opts.UserNS != nil {
		return nil
	}
	p, err := r.reserveInit()
	if err != nil {
		return nil
	}
	return p
}

// launch starts init and moves it into its cgroup.
func (p *preparedInit) launch(r *Runtime) error {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("socketpair: %w", err)
	}
	child := os.NewFile(uintptr(pair[1]), "init-socket")
	defer child.Close()
	p.conn = newConn(pair[0], maxReply)
	cmd := r.initCmd(child, p.cg, false, p.stderr)
	p.launched = true
	moved, err := r.startInit(cmd, p.cg)
	if err != nil {
		close(p.initDone)
		return fmt.Errorf("start container init: %w", err)
	}
	p.cmd = cmd
	go func() { _ = cmd.Wait(); close(p.initDone) }()
	if !moved {
		return p.cg.addProc(cmd.Process.Pid)
	}
	return nil
}

// alive says whether init is still there to be released.
func (p *preparedInit) alive() bool {
	select {
	case <-p.initDone:
		return false
	default:
		return true
	}
}

// destroy kills an init that no container took and removes its cgroup and
// record.
func (p *preparedInit) destroy(r *Runtime) error {
	if p == nil {
		return nil
	}
	if !p.launched { // reserved only: no process to wait for
		p.launched = true
		close(p.initDone)
	}
	kill := func() error {
		if p.cmd != nil {
			_ = p.cmd.Process.Signal(unix.SIGKILL)
		}
		return p.cg.kill()
	}
	_ = kill()
	pid := func() int {
		if p.cmd == nil {
			return 0
		}
		return p.cmd.Process.Pid
	}
	if err := awaitReaped(p.initDone, killTimeout, initKillRounds, kill, pid, p.name); err != nil {
		return err // the record stays: the next run removes what is left
	}
	if p.conn != nil {
		p.conn.close()
	}
	return errors.Join(p.cg.destroy(), removeRecord(containersDir(r.opts), p.name))
}

// takeWait bounds how long take waits for an init being started: that one
// is further along than a fresh start could be, unless something is wrong.
const takeWait = time.Second

// initPool keeps up to Options.Prestart inits ready, started by one
// goroutine. Each is handed out once. Until its caller says how many
// containers are still to come (expect), it keeps the pool full; after,
// it starts no more than that many, so that a run's last container leaves
// no init behind to start in vain and stop at Close.
type initPool struct {
	r       *Runtime
	size    int
	ready   chan *preparedInit
	refill  chan struct{}
	done    chan struct{} // closed by close
	stopped chan struct{} // closed when run returns
	wg      sync.WaitGroup

	mu     sync.Mutex
	want   int  // containers still to come, next one included; -1 until expect
	making bool // run is starting an init

	early *preparedInit // the first init's reservation, for run (nil once used)
}

// newInitPool starts filling a pool of size inits; size 0 makes none.
// early, if not nil, is the first one's reservation (see reserveEarly).
func newInitPool(r *Runtime, size int, early *preparedInit) *initPool {
	p := &initPool{r: r, size: size, ready: make(chan *preparedInit, max(size, 1)), refill: make(chan struct{}, 1),
		done: make(chan struct{}), stopped: make(chan struct{}), want: -1, early: early}
	if size == 0 {
		_ = early.destroy(r)
		close(p.stopped)
		return p
	}
	p.wg.Add(1)
	go p.run()
	return p
}

// wanted is how many inits to keep ready now.
func (p *initPool) wanted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.want < 0 {
		return p.size
	}
	return min(p.want, p.size)
}

func (p *initPool) setMaking(b bool) {
	p.mu.Lock()
	p.making = b
	p.mu.Unlock()
}

// run keeps the pool at wanted until close. It stops at the first init it
// cannot start: take then returns nil and containers start their own, which
// reports the error where it belongs.
func (p *initPool) run() {
	defer p.wg.Done()
	defer close(p.stopped)
	defer func() { _ = p.early.destroy(p.r) }() // unused: no init was wanted
	for {
		for len(p.ready) < p.wanted() {
			p.setMaking(true)
			in, err := p.r.prepareInit(p.early)
			p.early = nil
			p.setMaking(false)
			if err != nil {
				return
			}
			select {
			case p.ready <- in:
			case <-p.done:
				_ = in.destroy(p.r)
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

// poke makes run look at the pool again.
func (p *initPool) poke() {
	select {
	case p.refill <- struct{}{}:
	default:
	}
}

// expect says that n more containers are to start, the next one included.
func (p *initPool) expect(n int) {
	p.mu.Lock()
	p.want = max(n, 0)
	p.mu.Unlock()
	p.poke()
}

// take returns a prestarted init for the caller to own, or nil when none is
// ready or about to be (or the one that was has died).
func (p *initPool) take() *preparedInit {
	p.mu.Lock()
	if p.want > 0 {
		p.want--
	}
	making := p.making
	p.mu.Unlock()
	defer p.poke()
	var in *preparedInit
	select {
	case in = <-p.ready:
	default:
		if !making {
			return nil
		}
		select {
		case in = <-p.ready:
		case <-p.stopped:
			return nil
		case <-time.After(takeWait):
			return nil
		}
	}
	if !in.alive() {
		_ = in.destroy(p.r)
		return nil
	}
	return in
}

// close stops the starting and destroys the inits not taken.
func (p *initPool) close() error {
	close(p.done)
	p.wg.Wait()
	var errs []error
	for {
		select {
		case in := <-p.ready:
			errs = append(errs, in.destroy(p.r))
		default:
			return errors.Join(errs...)
		}
	}
}

// adopt makes a prestarted init the container's: its name, cgroup (with
// the Spec's limits written now), process and control socket. From here
// on Destroy removes all of it.
func (c *Container) adopt(in *preparedInit) error {
	c.name, c.scratch = in.name, filepath.Join(c.r.opts.ScratchDir, in.name)
	c.cg, c.cmd, c.conn, c.stderr, c.initDone = in.cg, in.cmd, in.conn, in.stderr, in.initDone
	c.started = time.Now()
	go c.readMessages()
	return c.r.cg.apply(c.cg, c.spec.Limits)
}
