package isolation

import (
	"os"
	"syscall"
	"time"
)

// request is a message from the parent with its fds.
type request struct {
	msg *message
	fds []int
}

// loop runs until the main process has ended (and, with KeepAlive, until
// the parent goes away). It returns init's exit code.
func (in *initState) loop(sigs <-chan os.Signal) int {
	reqs := make(chan request, 4)
	go in.readRequests(reqs)
	in.reap() // a SIGCHLD may have come before Notify
	for {
		if in.mainDone && !in.cfg.KeepAlive {
			return in.finish()
		}
		select {
		case s := <-sigs:
			in.onSignal(s.(syscall.Signal))
		case r, ok := <-reqs:
			if !ok {
				return in.finish()
			}
			in.onRequest(r)
		}
	}
}

// readRequests forwards the parent's messages; it closes reqs when the
// parent is gone.
func (in *initState) readRequests(reqs chan<- request) {
	defer close(reqs)
	for {
		m, fds, err := in.conn.recv()
		if err != nil {
			return
		}
		reqs <- request{m, fds}
	}
}

// onSignal reaps on SIGCHLD and forwards the others to the main process.
func (in *initState) onSignal(s syscall.Signal) {
	if s == syscall.SIGCHLD {
		in.reap()
		return
	}
	if in.mainPid > 0 && !in.mainDone {
		_ = syscall.Kill(in.mainPid, s)
	}
}

// onRequest starts an Exec'd process or signals one.
func (in *initState) onRequest(r request) {
	switch r.msg.Kind {
	case msgExec:
		if r.msg.Proc == nil {
			closeFds(r.fds)
			reportError(in.conn, r.msg.ID, "exec", errParentGone)
			return
		}
		if err := in.start(r.msg.ID, r.msg.Proc, r.fds); err != nil {
			reportError(in.conn, r.msg.ID, "exec", err)
		}
	case msgSignal:
		closeFds(r.fds)
		in.signalProc(r.msg.ID, syscall.Signal(r.msg.Signal))
	default:
		closeFds(r.fds)
	}
}

// signalProc signals process id: its process group when it has one.
func (in *initState) signalProc(id int, sig syscall.Signal) {
	for pid, pid2id := range in.procs {
		if pid2id != id {
			continue
		}
		if syscall.Kill(-pid, sig) != nil {
			_ = syscall.Kill(pid, sig)
		}
	}
}

// reap collects every exited child and reports the ones pipe started. When
// the main process is among them, everything else in the container is
// killed: no daemonised child survives the step.
func (in *initState) reap() {
	for {
		var ws syscall.WaitStatus
		var ru syscall.Rusage
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, &ru)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		id, ok := in.procs[pid]
		if !ok {
			continue
		}
		delete(in.procs, pid)
		st := statusOf(ws, &ru)
		if id == 0 {
			in.mainDone = true
			_ = syscall.Kill(-1, syscall.SIGKILL)
			st.Alone = in.reapRest(restWait)
		}
		_ = in.conn.send(&message{Kind: msgExited, ID: id, Pid: pid, Status: &st})
	}
}

// restWait bounds how long init waits, once the main process has ended,
// for the rest it killed to be gone before it reports the main process.
const restWait = time.Second

// reapRest reaps every other process of the container (killed: see reap),
// reporting those pipe started, until none is left (true) or wait has
// passed (false: one is stuck in the kernel, and pipe then waits for init's
// own end, as Destroy does).
func (in *initState) reapRest(wait time.Duration) bool {
	deadline := time.Now().Add(wait)
	pause := 20 * time.Microsecond // SIGKILL'd tasks go within microseconds
	for {
		var ws syscall.WaitStatus
		var ru syscall.Rusage
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, &ru)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.ECHILD:
			return true
		case err != nil:
			return false
		case pid > 0:
			if id, ok := in.procs[pid]; ok {
				delete(in.procs, pid)
				st := statusOf(ws, &ru)
				_ = in.conn.send(&message{Kind: msgExited, ID: id, Pid: pid, Status: &st})
			}
			continue
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
		pause = min(2*pause, time.Millisecond) // one stuck in the kernel is not polled hot
	}
}

// finish kills whatever is left, reaps it, and returns init's exit code.
func (in *initState) finish() int {
	_ = syscall.Kill(-1, syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, 0, nil)
		if err == syscall.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			break
		}
	}
	return 0
}

// statusOf turns a wait status into an exit code (or 128+signal).
func statusOf(ws syscall.WaitStatus, ru *syscall.Rusage) exitStatus {
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if ws.Signaled() {
		return exitStatus{Code: 128 + int(ws.Signal()), Signal: int(ws.Signal()), CPU: int64(cpu)}
	}
	return exitStatus{Code: ws.ExitStatus(), CPU: int64(cpu)}
}
