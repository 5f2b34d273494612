package isolation

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// On cgroup v1 a container's init is moved into its cgroups by writes to
// cgroup.procs, and the first such write after a quiet spell (some 20 ms
// without one) waits for an RCU grace period while the kernel switches
// cgroup_threadgroup_rwsem to its writer mode: 8-14 ms on the project's
// machines, more than the rest of a start. Writes that come while that mode
// holds (it ends a grace period after the last writer) do not wait. So the
// Runtime, as it opens, moves pipe into the cgroup it is in already: a move
// that changes nothing, made in the background, that pays the grace period
// while pipe does the rest of its start, so that the moves of the inits
// after it find the kernel ready. On v2 inits are started in their cgroup
// (CLONE_INTO_CGROUP) and nothing waits.

// warmAttach starts that move; it does nothing on v2 or without cgroups.
// It never fails: the move is only an optimisation.
func (m *cgroupManager) warmAttach() {
	if m.layout.version != 1 {
		return
	}
	dir, ok := m.selfDirV1("pids")
	if !ok {
		return
	}
	go func() {
		_ = writeCgroupFile(dir, "cgroup.procs", strconv.Itoa(os.Getpid()))
	}()
	runtime.Gosched() // let it reach the kernel now, before this goroutine goes on
}

// selfDirV1 returns the dir of the cgroup pipe is in, in the v1 hierarchy
// of controller.
func (m *cgroupManager) selfDirV1(controller string) (string, bool) {
	mnt := m.layout.v1[controller]
	data, err := os.ReadFile(m.selfCgroup)
	if mnt == "" || err != nil {
		return "", false
	}
	for line := range bytes.Lines(data) {
		// "hierarchy-ID:controller-list:cgroup-path"
		f := strings.SplitN(strings.TrimSuffix(string(line), "\n"), ":", 3)
		if len(f) != 3 || !filepath.IsAbs(f[2]) || strings.Contains(f[2], "..") {
			continue
		}
		for _, c := range strings.Split(f[1], ",") {
			if c == controller {
				return filepath.Join(mnt, f[2]), true
			}
		}
	}
	return "", false
}
