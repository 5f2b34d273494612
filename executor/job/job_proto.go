package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/pipe-run/pipe/isolation"
)

// The keeper's protocol: one SOCK_SEQPACKET connection per request. The
// client sends a jobRequest (an exec's or run's stdin, stdout and stderr go
// with it as fds), then, while the process runs, signal requests; the
// keeper answers with one jobReply. A client that goes away before the
// reply (killed) ends its process: the keeper kills the process's group.

// maxJobMessage bounds one message (a step's whole env fits).
const maxJobMessage = 4 << 20

// Request operations.
const (
	opPing    = "ping"
	opExec    = "exec"
	opRun     = "run"
	opSignal  = "signal"
	opDestroy = "destroy"
)

type jobRequest struct {
	Op        string             `json:"op"`
	Container string             `json:"container,omitempty"` // exec: which
	Process   *jobProcConfig     `json:"process,omitempty"`   // exec, run
	Run       *resolvedContainer `json:"run,omitempty"`       // run: the container
	Signal    int                `json:"signal,omitempty"`    // signal
}

// jobProcConfig is a Process without its files.
type jobProcConfig struct {
	Args        []string `json:"args"`
	Env         []string `json:"env,omitempty"`
	PrependPath []string `json:"prepend_path,omitempty"`
	Dir         string   `json:"dir,omitempty"`
	User        string   `json:"user,omitempty"`
}

type jobReply struct {
	Result *isolation.Result `json:"result,omitempty"`
	Error  string            `json:"error,omitempty"`
	Notes  []string          `json:"notes,omitempty"` // the start's: what the job's log should tell
}

// resolvedContainer is a Container with its image pulled.
type resolvedContainer struct {
	Container
	Digest string         `json:"digest,omitempty"`
	Layers []string       `json:"layers,omitempty"`
	Config *v1.ConfigFile `json:"config,omitempty"`
}

// resolvedService is a Service with its image pulled.
type resolvedService struct {
	Service
	Digest string         `json:"digest"`
	Layers []string       `json:"layers"`
	Config *v1.ConfigFile `json:"config,omitempty"`
}

// resolvedJob is spec.json: what the keeper runs.
type resolvedJob struct {
	Spec       Spec                `json:"spec"`
	Containers []resolvedContainer `json:"containers"`
	Services   []resolvedService   `json:"services"`
	Runtime    jobRuntime          `json:"runtime"`
	Store      string              `json:"store"`
}

// sendMsg writes v as one message, with files.
func sendMsg(c *net.UnixConn, v any, files ...*os.File) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if len(b) > maxJobMessage {
		return fmt.Errorf("message of %d bytes: over %d", len(b), maxJobMessage)
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = syscall.UnixRights(fds...)
	}
	_, _, err = c.WriteMsgUnix(b, oob, nil)
	return err
}

// recvMsg reads one message into v and returns the files that came with it.
func recvMsg(c *net.UnixConn, v any) ([]*os.File, error) {
	buf := make([]byte, maxJobMessage)
	oob := make([]byte, syscall.CmsgSpace(3*4))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("connection closed")
	}
	files, err := filesOf(oob[:oobn])
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(buf[:n], v); err != nil {
		closeFiles(files)
		return nil, fmt.Errorf("bad message: %w", err)
	}
	return files, nil
}

func filesOf(oob []byte) ([]*os.File, error) {
	if len(oob) == 0 {
		return nil, nil
	}
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	for _, m := range msgs {
		fds, err := syscall.ParseUnixRights(&m)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			syscall.CloseOnExec(fd)
			files = append(files, os.NewFile(uintptr(fd), "job-stdio"))
		}
	}
	return files, nil
}

func closeFiles(files []*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}

// dialKeeper connects to a keeper's socket.
func dialKeeper(sock string) (*net.UnixConn, error) {
	return net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: sock, Net: "unixpacket"})
}

// jobRuntime is what spec.json keeps of the isolation.Options of a job: the
// keeper takes its user namespace (rootless) from its environment, as the
// pipe that started it did, and writes warnings to its log.
type jobRuntime struct {
	StateDir     string `json:"state_dir,omitempty"`
	ScratchDir   string `json:"scratch_dir,omitempty"`
	ScratchSize  int64  `json:"scratch_size,omitempty"`
	CgroupParent string `json:"cgroup_parent,omitempty"`
	IODevicePath string `json:"io_device_path,omitempty"`
	StrictLimits bool   `json:"strict_limits,omitempty"`
}

func jobRuntimeOf(o isolation.Options) jobRuntime {
	return jobRuntime{StateDir: o.StateDir, ScratchDir: o.ScratchDir, ScratchSize: o.ScratchSize,
		CgroupParent: o.CgroupParent, IODevicePath: o.IODevicePath, StrictLimits: o.StrictLimits}
}

// options are the runtime options of the keeper (and of Destroy).
func (r jobRuntime) options() isolation.Options {
	return isolation.Options{StateDir: r.StateDir, ScratchDir: r.ScratchDir, ScratchSize: r.ScratchSize,
		CgroupParent: r.CgroupParent, IODevicePath: r.IODevicePath, StrictLimits: r.StrictLimits,
		UserNS: isolation.CurrentUserNS(), Warn: func(msg string) { fmt.Fprintln(os.Stderr, "pipe job keeper: warning:", msg) }}
}
