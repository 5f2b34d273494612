package podagent

import (
	"path/filepath"
	"strconv"
)

// Paths are the places in the pod the agents use. DefaultPaths is the pod
// contract; tests move them all under one dir with PathsUnder.
type Paths struct {
	Workspace      string // the workspace emptyDir: /workspace
	State          string // the agents' emptyDir: /.pipe
	Volumes        string // the cache volumes' emptyDirs, in the agent containers: /.pipe-volumes/<i>
	TerminationLog string // the step container's termination message: /dev/termination-log
	Self           string // the binary Init copies: /proc/self/exe
	// Cgroup is where the container's cgroups are mounted (/sys/fs/cgroup)
	// and ProcCgroup where this process's cgroups are listed
	// (/proc/self/cgroup): Run reads the OOM killer's count there.
	Cgroup, ProcCgroup string
}

// DefaultPaths are the paths of the pod contract.
func DefaultPaths() Paths {
	return Paths{Workspace: "/workspace", State: "/.pipe", TerminationLog: "/dev/termination-log", Self: "/proc/self/exe", Volumes: "/.pipe-volumes",
		Cgroup: "/sys/fs/cgroup", ProcCgroup: "/proc/self/cgroup"}
}

// PathsUnder puts the workspace, the state dir, the termination log and
// the cgroup files under root (root/workspace, root/.pipe,
// root/termination-log, root/cgroup, root/proc-cgroup), for tests.
func PathsUnder(root string) Paths {
	return Paths{
		Workspace:      filepath.Join(root, "workspace"),
		State:          filepath.Join(root, ".pipe"),
		Volumes:        filepath.Join(root, "volumes"),
		TerminationLog: filepath.Join(root, "termination-log"),
		Self:           "/proc/self/exe",
		Cgroup:         filepath.Join(root, "cgroup"),
		ProcCgroup:     filepath.Join(root, "proc-cgroup"),
	}
}

// Binary is where Init puts the agent binary for the step container.
func (p Paths) Binary() string { return filepath.Join(p.State, "pipe") }

// Index is the tree index of the applied workspace.
func (p Paths) Index() string { return filepath.Join(p.State, "index") }

// Volume is where cache volume i is in the agent containers.
func (p Paths) Volume(i int) string { return filepath.Join(p.Volumes, strconv.Itoa(i)) }

// VolumeIndex is the tree index of cache volume i as Init applied it.
func (p Paths) VolumeIndex(i int) string {
	return filepath.Join(p.State, "volume-"+strconv.Itoa(i)+".index")
}

// Done is written by Run once the step's process has exited.
func (p Paths) Done() string { return filepath.Join(p.State, "done") }

// Pushed is written by Push once the diff is pushed, or has failed.
func (p Paths) Pushed() string { return filepath.Join(p.State, "pushed.json") }
