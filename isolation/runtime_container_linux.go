package isolation

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Container is a started container. Wait, Exec and Destroy are safe for
// concurrent use. Lifecycle: Start -> (Exec...) -> Wait -> (Exec... with
// KeepAlive) -> Destroy. Destroy must always be called, also after a
// failed Wait; Start cleans up itself when it fails.
type Container struct {
	r       *Runtime
	spec    Spec
	name    string // unique on this host: ID plus a random suffix
	scratch string
	cg      *cgroup
	cmd     *exec.Cmd
	conn    *conn
	stderr  *tailBuffer // init's own stderr (a crash's last words)
	netns   *os.File    // the network namespace to join, until sent to init
	newNet  bool        // init gets a network namespace of its own (CLONE_NEWNET)
	started time.Time
	stopCtx func() bool

	mu          sync.Mutex
	procs       map[int]*procWaiter
	nextID      int
	mainStarted bool
	mainExited  bool
	killReason  killReason
	ctxErr      error // why the context ended, when it killed the container

	gone       chan struct{} // closed when init's control socket closed
	initDone   chan struct{} // closed when init was reaped
	mainDone   chan struct{} // closed when mainResult is set
	mainResult Result
	mainErr    error

	destroyOnce sync.Once
	destroyErr  error
}

// killReason says why pipe killed a container.
type killReason int

const (
	notKilled killReason = iota
	killedTimeout
	killedCanceled
	killedDestroy
)

// procWaiter receives what init says about one process.
type procWaiter struct {
	started chan startReply // one reply: started, or an error
	exited  chan exitStatus
}

type startReply struct {
	pid    int
	master *os.File // TTY master, when the process has a TTY
	err    error
}

func newProcWaiter() *procWaiter {
	return &procWaiter{started: make(chan startReply, 1), exited: make(chan exitStatus, 1)}
}

// register makes a waiter for a new process and returns its ID.
func (c *Container) register() (int, *procWaiter) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := c.nextID
	c.nextID++
	w := newProcWaiter()
	c.procs[id] = w
	return id, w
}

func (c *Container) waiter(id int) *procWaiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[id]
}

// readMessages dispatches init's messages until the socket closes.
func (c *Container) readMessages() {
	defer close(c.gone)
	for {
		m, fds, err := c.conn.recv()
		if err != nil {
			return
		}
		c.dispatch(m, fds)
	}
}

func (c *Container) dispatch(m *message, fds []int) {
	w := c.waiter(m.ID)
	if w == nil {
		closeFds(fds)
		return
	}
	switch m.Kind {
	case msgStarted:
		rep := startReply{pid: m.Pid}
		if len(fds) > 0 {
			rep.master = os.NewFile(uintptr(fds[0]), "pty-master")
			closeFds(fds[1:])
		}
		w.started <- rep
	case msgExited:
		closeFds(fds)
		if m.Status != nil {
			w.exited <- *m.Status
		}
	case msgError:
		closeFds(fds)
		err := error(errors.New("container init failed"))
		if m.Error != nil {
			err = m.Error
		}
		w.started <- startReply{err: err}
	default:
		closeFds(fds)
	}
}

// awaitStart waits for init's answer about process w.
func (c *Container) awaitStart(w *procWaiter) (startReply, error) {
	select {
	case rep := <-w.started:
		return rep, rep.err
	case <-c.gone:
		select {
		case rep := <-w.started:
			return rep, rep.err
		default:
		}
		return startReply{}, c.initDied()
	}
}

// initDied explains a dead init.
func (c *Container) initDied() error {
	if err := c.awaitInit(); err != nil {
		return err
	}
	c.mu.Lock()
	ctxErr := c.ctxErr
	c.mu.Unlock()
	if ctxErr != nil {
		return fmt.Errorf("container %s: killed before its process started: %w", c.spec.ID, ctxErr)
	}
	msg := strings.TrimSpace(c.stderr.String())
	if msg == "" && c.cmd.ProcessState != nil {
		msg = c.cmd.ProcessState.String()
	}
	return fmt.Errorf("container %s: init ended unexpectedly: %s", c.spec.ID, msg)
}

// onContextDone kills the container when its context ends: after
// TimeoutGrace with SIGTERM first, when one is set.
func (c *Container) onContextDone(ctx context.Context) {
	reason := killedCanceled
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		reason = killedTimeout
	}
	c.mu.Lock()
	if c.mainExited && !c.spec.KeepAlive {
		c.mu.Unlock()
		return
	}
	if c.killReason == notKilled {
		c.killReason, c.ctxErr = reason, ctx.Err()
	}
	started := c.mainStarted
	c.mu.Unlock()
	// SIGTERM (which init forwards) only once the main process runs: before,
	// there is nothing to be graceful to.
	if g := c.spec.Limits.TimeoutGrace; g > 0 && started {
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.initDone:
		case <-c.mainDone:
		case <-time.After(g):
		}
	}
	c.killAll()
}

// killAll kills init (so the kernel kills every process of its pid
// namespace) and everything in the cgroup.
func (c *Container) killAll() error {
	if c.cmd != nil && c.cmd.Process != nil {
		_ = c.cmd.Process.Signal(syscall.SIGKILL)
	}
	if c.cg != nil {
		return c.cg.kill()
	}
	return nil
}

// Destroy kills every process of the container and removes its cgroup,
// scratch dir and state record. It is idempotent and safe after a failed
// Start; the container's mounts die with its mount namespace.
func (c *Container) Destroy() error {
	c.destroyOnce.Do(func() { c.destroyErr = c.destroy() })
	return c.destroyErr
}

func (c *Container) destroy() error {
	if c.stopCtx != nil {
		c.stopCtx()
	}
	c.mu.Lock()
	if c.killReason == notKilled && !c.mainExited {
		c.killReason = killedDestroy
	}
	c.mu.Unlock()
	c.mu.Lock()
	ending := c.mainExited && !c.spec.KeepAlive
	c.mu.Unlock()
	var errs []error
	select {
	case <-c.initDone:
		// init has ended, and with it every process of its pid namespace:
		// the cgroup is empty (destroy checks again).
	default:
		// An init whose main process has ended ends by itself (Wait did not
		// wait for it): it is killed only if it does not (awaitInit).
		if !ending {
			errs = append(errs, c.killAll())
		}
		if c.cmd != nil && c.cmd.Process != nil {
			if err := c.awaitInit(); err != nil {
				return errors.Join(append(errs, err)...) // the record stays: the next run removes what is left
			}
		}
	}
	c.mu.Lock()
	started := c.mainStarted
	c.mu.Unlock()
	if started {
		<-c.mainDone // Wait's result reads the cgroup: let it first
	}
	if c.netns != nil {
		c.netns.Close()
	}
	if c.conn != nil {
		c.conn.shutdown()
		<-c.gone
		c.conn.close()
	}
	if c.cg != nil {
		errs = append(errs, c.cg.destroy())
	}
	errs = append(errs, c.r.removeScratch(c.scratch))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroy container %s: %w", c.spec.ID, err)
	}
	return removeRecord(containersDir(c.r.opts), c.name)
}
