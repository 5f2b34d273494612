//go:build linux

package podagent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// forwardedSignals are the signals Run passes on to the step's process group.
func forwardedSignals() []os.Signal {
	return []os.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2}
}

// runChild starts argv in its own process group, forwards the signals of
// sigs to the group and reaps every child until argv's process exits, then
// kills what is left: every other process of the container when this is
// PID 1, argv's process group otherwise (then this process is made a child
// subreaper, so that the group's orphans are reaped here too).
func runChild(ctx context.Context, argv []string, sigs <-chan os.Signal, logf func(string, ...any)) childResult {
	pid1 := os.Getpid() == 1
	if !pid1 {
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) // best effort: only tests run Run below PID 1
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return childResult{exit: startExitCode(err), err: fmt.Errorf("start the step's command %q: %w", argv[0], err)}
	}
	child := cmd.Process.Pid
	exited := make(chan unix.WaitStatus, 1)
	go reapUntil(child, exited)
	var res childResult
	for {
		select {
		case ws := <-exited:
			res.exit = waitExitCode(ws)
			killRest(child, pid1)
			return res
		case s := <-sigs:
			sig := s.(syscall.Signal)
			res.stopped = res.stopped || sig == unix.SIGTERM || sig == unix.SIGINT
			logf("forwarding %s to the step", unix.SignalName(sig))
			_ = unix.Kill(-child, sig)
		case <-ctx.Done():
			res.stopped = true
			_ = unix.Kill(-child, unix.SIGKILL)
			ctx = context.Background() // keep reaping until the child is gone
		}
	}
}

// reapUntil reaps every child of this process until child exits, whose
// status it sends.
func reapUntil(child int, exited chan<- unix.WaitStatus) {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, 0, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			exited <- ws // ECHILD: gone already; cannot happen while child lives
			return
		case pid == child:
			exited <- ws
			return
		}
	}
}

// killRest kills what the step left running and reaps it, 5 s at most. As
// PID 1 that is every other process of the container (kill(-1) does not
// reach PID 1 itself, nor anything outside its PID namespace); otherwise the
// step's process group.
func killRest(child int, pid1 bool) {
	if pid1 {
		_ = unix.Kill(-1, unix.SIGKILL)
	} else {
		_ = unix.Kill(-child, unix.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil: // ECHILD: none left
			return
		case pid == 0:
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// waitExitCode is a shell's exit code for a wait status: 128+N for signal N.
func waitExitCode(ws unix.WaitStatus) int {
	switch {
	case ws.Exited():
		return ws.ExitStatus()
	case ws.Signaled():
		return 128 + int(ws.Signal())
	default:
		return 128
	}
}

// startExitCode is a shell's exit code for a command that cannot start:
// 127 when it is not found, 126 otherwise.
func startExitCode(err error) int {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return 127
	}
	return 126
}
