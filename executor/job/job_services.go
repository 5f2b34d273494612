package job

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pipe-run/pipe/executor"
	"github.com/pipe-run/pipe/isolation"
)

// A job's services run as a step's do (services.go), for the job's whole
// life: each in a container of its own on the job's network, its aliases
// resolving to 127.0.0.1 in every container of the job, its output in
// svc-<name>.log in the state dir. The keeper waits (up to serviceWait)
// for the TCP ports the service's image exposes, on the job's network, as
// GitLab's Docker executor does, so that a job's first command finds its
// database up.

// serviceWait bounds the wait for a service's exposed ports.
const serviceWait = 30 * time.Second

// startService starts one service of the job.
func (k *keeper) startService(s *resolvedService) error {
	args := dockerArgv(s.Config, s.Entrypoint, s.Command)
	if len(args) == 0 {
		return fmt.Errorf("service %s: image %s has no entrypoint or cmd: give it a command", s.Name, s.Image)
	}
	logf, err := os.OpenFile(filepath.Join(k.dir, "svc-"+s.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	user := ""
	if s.Config != nil {
		user = s.Config.Config.User
	}
	spec := &isolation.Spec{
		ID: k.job.Spec.Name + "-svc-" + s.Name, Root: isolation.Overlay{Lower: s.Layers},
		Hostname: cmp.Or(append(append([]string(nil), s.Aliases...), s.Name)...),
		Hosts:    k.hosts, Network: k.net, Limits: k.job.Spec.Limits,
		Process: isolation.Process{Args: args, Env: executor.ContainerEnv(s.Config, s.Env...),
			Dir: executor.ImageWorkdir(s.Config), User: user, Stdout: logf, Stderr: logf},
	}
	if len(spec.Hostname) > 63 || strings.ContainsAny(spec.Hostname, "/:") {
		spec.Hostname = s.Name
	}
	c, err := k.rt.Start(k.ctx, spec)
	if err != nil {
		return fmt.Errorf("service %s (%s): %w", s.Name, s.Image, err)
	}
	sv := &jobService{c: c, done: make(chan struct{})}
	go func() { sv.res, sv.err = c.Wait(); close(sv.done) }()
	k.mu.Lock()
	k.services = append(k.services, sv)
	k.mu.Unlock()
	return nil
}

// jobService is a running service of the job.
type jobService struct {
	c    *isolation.Container
	done chan struct{} // closed when its main process has ended
	res  isolation.Result
	err  error
}

// exited says how the service ended, or "" while it runs.
func (sv *jobService) exited() string {
	select {
	case <-sv.done:
	default:
		return ""
	}
	if sv.err != nil {
		return sv.err.Error()
	}
	return fmt.Sprintf("exited with code %d", sv.res.ExitCode)
}

// dockerArgv is a container's argv, Docker's way: an entrypoint given
// replaces the image's and its cmd; a cmd given replaces the image's cmd.
// Job services and Job.Run containers start by it.
func dockerArgv(c *v1.ConfigFile, entrypoint, cmd []string) []string {
	var ep, args []string
	if c != nil {
		ep, args = c.Config.Entrypoint, c.Config.Cmd
	}
	if len(entrypoint) > 0 {
		ep, args = entrypoint, nil
	}
	if len(cmd) > 0 {
		args = cmd
	}
	return append(append([]string(nil), ep...), args...)
}

// waitServices waits for the exposed TCP ports of the services, on the
// job's network.
func (k *keeper) waitServices() error {
	deadline := time.Now().Add(serviceWait)
	for i, s := range k.job.Services {
		sv := k.services[i]
		for _, port := range exposedTCP(s) {
			if !k.waitPort(port, deadline, sv) {
				k.noteService(s, sv, fmt.Sprintf("port %s is not open after %s; the job goes on", port, serviceWait))
				break
			}
		}
		if how := sv.exited(); how != "" {
			k.noteService(s, sv, how+" before the job started")
		}
	}
	return nil
}

// noteService tells the job's log about a service that is not up, with
// the end of its output.
func (k *keeper) noteService(s resolvedService, sv *jobService, what string) {
	msg := fmt.Sprintf("service %s (%s): %s", cmp.Or(append(append([]string(nil), s.Aliases...), s.Name)...), s.Image, what)
	if tail := logTail(filepath.Join(k.dir, "svc-"+s.Name+".log"), 10); tail != "" {
		msg += "; its last output:\n  " + strings.ReplaceAll(tail, "\n", "\n  ")
	}
	k.note("%s", msg)
}

// logTail is the last n lines of a log file.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

// exposedTCP lists the TCP ports the service's image exposes.
func exposedTCP(s resolvedService) []string {
	if s.Config == nil {
		return nil
	}
	var out []string
	for p := range s.Config.Config.ExposedPorts {
		num, proto, _ := strings.Cut(p, "/")
		if proto == "" || proto == "tcp" {
			out = append(out, num)
		}
	}
	return out
}

func (k *keeper) waitPort(port string, deadline time.Time, sv *jobService) bool {
	addr := net.JoinHostPort("127.0.0.1", port)
	for time.Now().Before(deadline) && sv.exited() == "" {
		var err error
		if k.net.Mode == isolation.NetworkJoin {
			err = isolation.DialIn(k.net.Path, addr, time.Second)
		} else {
			var c net.Conn
			if c, err = net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
			}
		}
		if err == nil {
			return true
		}
		time.Sleep(200 * time.Millisecond)
	}
	return false
}
