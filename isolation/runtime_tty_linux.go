package isolation

import (
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ttySession copies between a TTY process's pty master (made by init in
// the container's devpts and passed back over the control socket) and the
// Process's Stdin and Stdout, keeps the caller's terminal in raw mode, and
// passes window size changes on.
type ttySession struct {
	master   *os.File
	restore  func()
	copies   sync.WaitGroup
	resizing sync.WaitGroup
	stop     chan struct{}
}

// callerTerminal returns p.Stdin's fd when it is a terminal.
func callerTerminal(p *Process) (int, bool) {
	f, ok := p.Stdin.(*os.File)
	if !ok || !IsTerminal(int(f.Fd())) {
		return -1, false
	}
	return int(f.Fd()), true
}

// terminalSizeOf is p.Size, or the caller's terminal size for a TTY
// process whose Stdin is a terminal.
func terminalSizeOf(p *Process) *WindowSize {
	if p.Size != nil || !p.TTY {
		return p.Size
	}
	if fd, ok := callerTerminal(p); ok {
		if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
			return &WindowSize{Rows: ws.Row, Cols: ws.Col}
		}
	}
	return nil
}

// startTTY starts copying and resizing for a process with a pty.
func startTTY(master *os.File, p *Process) *ttySession {
	t := &ttySession{master: master, stop: make(chan struct{})}
	term, isTerm := callerTerminal(p)
	if isTerm {
		if restore, err := MakeRaw(term); err == nil {
			t.restore = restore
		}
	}
	out := p.Stdout
	if out == nil {
		out = io.Discard // a terminal nobody reads would block its writers
	}
	t.copies.Add(1)
	go func() {
		defer t.copies.Done()
		_, _ = io.Copy(out, master) // ends with EIO once the last slave fd closes
	}()
	if p.Stdin != nil {
		go func() { _, _ = io.Copy(master, p.Stdin) }()
	}
	t.resizing.Add(1)
	go t.resize(p.Resize, term, isTerm)
	return t
}

// resize sets the pty's window size from the Resize channel, or from the
// caller's terminal on SIGWINCH when there is no channel.
func (t *ttySession) resize(ch <-chan WindowSize, term int, isTerm bool) {
	defer t.resizing.Done()
	var winch chan os.Signal
	if ch == nil && isTerm {
		winch = make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
	}
	for {
		select {
		case <-t.stop:
			return
		case ws, ok := <-ch:
			if !ok {
				ch = nil
				continue
			}
			t.setSize(ws)
		case <-winch:
			if ws, err := unix.IoctlGetWinsize(term, unix.TIOCGWINSZ); err == nil {
				t.setSize(WindowSize{Rows: ws.Row, Cols: ws.Col})
			}
		}
	}
}

// setSize sets the pty's window size (through SyscallConn: Fd would put
// the master in blocking mode, and Close could no longer end a Read).
func (t *ttySession) setSize(ws WindowSize) {
	rc, err := t.master.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: ws.Rows, Col: ws.Cols})
	})
}

// finish waits (up to grace) for the output, then closes the master and
// restores the caller's terminal.
func (t *ttySession) finish(grace time.Duration) {
	close(t.stop)
	t.resizing.Wait()
	done := make(chan struct{})
	go func() { t.copies.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
	}
	t.master.Close()
	<-done
	if t.restore != nil {
		t.restore()
	}
}

// tailBuffer keeps the last max bytes written to it (init's stderr).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
