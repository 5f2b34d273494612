package job

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/pipe-run/pipe/executor"
	"github.com/pipe-run/pipe/isolation"
)

// The keeper's side of the protocol (job_proto.go): one goroutine per
// connection, processes run with the connection's stdio, a connection that
// closes ends its process.

// serve answers requests until a destroy request, SIGTERM or the end of
// the job's life.
func (k *keeper) serve(ln *net.UnixListener) {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		select {
		case <-term:
		case <-k.ctx.Done():
		}
		ln.Close()
	}()
	var wg sync.WaitGroup
	for {
		conn, err := ln.AcceptUnix()
		if err != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if k.handle(conn) {
				ln.Close()
			}
		}()
	}
	k.cancel() // ends whatever still runs
	wg.Wait()
}

// handle serves one connection; it says whether the job is to end.
func (k *keeper) handle(conn *net.UnixConn) bool {
	defer conn.Close()
	var req jobRequest
	files, err := recvMsg(conn, &req)
	if err != nil {
		return false
	}
	defer closeFiles(files)
	switch req.Op {
	case opPing:
		_ = sendMsg(conn, jobReply{})
	case opExec, opRun:
		res, err := k.process(conn, &req, files)
		rep := jobReply{Result: &res}
		if err != nil {
			rep = jobReply{Error: err.Error()}
		}
		_ = sendMsg(conn, rep)
	case opDestroy:
		k.cancel()
		err := k.stopAll()
		rep := jobReply{}
		if err != nil {
			rep.Error = err.Error()
		}
		_ = sendMsg(conn, rep)
		return true
	default:
		_ = sendMsg(conn, jobReply{Error: fmt.Sprintf("unknown request %q", req.Op)})
	}
	return false
}

// process runs an exec or run request, forwarding the client's signals
// and killing the process when the client goes away.
func (k *keeper) process(conn *net.UnixConn, req *jobRequest, files []*os.File) (isolation.Result, error) {
	if req.Process == nil || len(files) != 3 {
		return isolation.Result{}, errors.New("a process request needs a process and three stdio fds")
	}
	ctx, cancel := context.WithCancel(k.ctx)
	defer cancel()
	sigs := make(chan syscall.Signal, 4)
	go func() {
		for {
			var m jobRequest
			fs, err := recvMsg(conn, &m)
			closeFiles(fs)
			if err != nil {
				cancel() // the client is gone
				return
			}
			if m.Op == opSignal {
				select {
				case sigs <- syscall.Signal(m.Signal):
				default:
				}
			}
		}
	}()
	if req.Op == opRun {
		return k.runOnce(ctx, req, files, sigs)
	}
	k.mu.Lock()
	kc := k.containers[req.Container]
	k.mu.Unlock()
	if kc == nil {
		return isolation.Result{}, fmt.Errorf("no container %q in job %s", req.Container, k.job.Spec.Name)
	}
	p := kc.process(req.Process)
	p.Stdin, p.Stdout, p.Stderr, p.Signals = files[0], files[1], files[2], sigs
	return kc.c.Exec(ctx, p)
}

// process is an exec request's process with the container's defaults.
func (kc *keptContainer) process(pc *jobProcConfig) isolation.Process {
	env := executor.DedupEnv(append(append([]string(nil), kc.env...), pc.Env...))
	if len(pc.PrependPath) > 0 {
		env = prependPath(env, pc.PrependPath)
	}
	return isolation.Process{Args: pc.Args, Env: env, Dir: cmp.Or(pc.Dir, kc.dir), User: cmp.Or(pc.User, kc.user)}
}

// prependPath puts dirs in front of env's PATH.
func prependPath(env, dirs []string) []string {
	env = executor.WithDefaultPath(env)
	for i, e := range env {
		if strings.HasPrefix(e, "PATH=") {
			env[i] = "PATH=" + strings.Join(dirs, ":") + ":" + strings.TrimPrefix(e, "PATH=")
		}
	}
	return env
}

// runOnce runs a container of its own (Job.Run) to its end.
func (k *keeper) runOnce(ctx context.Context, req *jobRequest, files []*os.File, sigs <-chan syscall.Signal) (isolation.Result, error) {
	if req.Run == nil {
		return isolation.Result{}, errors.New("a run request needs a container")
	}
	k.mu.Lock()
	k.runs++
	n := k.runs
	k.mu.Unlock()
	spec, kc, err := k.containerSpec(req.Run, fmt.Sprintf("-run%d", n))
	if err != nil {
		return isolation.Result{}, err
	}
	p := kc.process(req.Process)
	if len(p.Args) == 0 {
		p.Args = dockerArgv(req.Run.Config, req.Run.Entrypoint, req.Run.Args)
	}
	if len(p.Args) == 0 {
		return isolation.Result{}, fmt.Errorf("container %s: image %s has no entrypoint or cmd: give an entrypoint", req.Run.Name, req.Run.Image)
	}
	p.Stdin, p.Stdout, p.Stderr = files[0], files[1], files[2]
	spec.Process = p
	if spec.Limits.TimeoutGrace == 0 {
		spec.Limits.TimeoutGrace = runGrace
	}
	// A signal from the client ends the container gracefully: its init
	// forwards SIGTERM to the main process, SIGKILL follows after the grace.
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-sigs:
			stop()
		case <-runCtx.Done():
		}
	}()
	c, err := k.rt.Start(runCtx, spec)
	if err != nil {
		return isolation.Result{}, err
	}
	defer c.Destroy()
	return c.Wait()
}
