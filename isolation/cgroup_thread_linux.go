package isolation

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// On cgroup v1 a process is moved into a cgroup by a write to its
// cgroup.procs, and the first such write after a quiet spell (some 20 ms
// without one) waits for an RCU grace period while the kernel switches
// cgroup_threadgroup_rwsem to its writer mode: 8-15 ms on the project's
// machines, more than all the rest of a container's start, and it holds
// cgroup_mutex all the while, so every other cgroup mkdir or move waits
// too. Since Linux 5.13 a thread that moves itself alone (a write of "0"
// to a v1 hierarchy's tasks file) takes no such lock, as no thread group
// changes under it: 0.2 ms for six hierarchies, here.
//
// So on v1 a container's init is born in its cgroup: the launcher's thread
// (see onLauncher), which starts every init, moves itself into the
// container's cgroup in every hierarchy, forks init there (a child starts
// in the cgroups of the thread that forked it), and moves itself back.
// Nothing then moves init, and no grace period is waited for. On v2 inits
// are started in their cgroup by CLONE_INTO_CGROUP, to the same effect.

// startInV1 runs start (a cmd.Start of init) on the calling thread moved
// into c, in every hierarchy, and moves the thread back to where pipe is
// (home, from homeDirsV1) after. The caller is locked to its thread (the
// launcher). entered false says the thread could not enter c and nothing
// was started: the caller starts init and moves it with addProc instead.
// startErr is start's; backErr says the thread could not go back home,
// and then the caller must not leave what it started running.
func (c *cgroup) startInV1(home map[string]string, start func() error) (entered bool, startErr, backErr error) {
	var in []string
	back := func() error {
		var errs []error
		for _, dir := range in {
			if err := writeCgroupFile(home[dir], "tasks", "0"); err != nil {
				errs = append(errs, fmt.Errorf("move pipe's launcher thread back out of %s: %w", dir, err))
			}
		}
		return errors.Join(errs...)
	}
	for _, dir := range c.distinctDirs() {
		if home[dir] == "" || writeCgroupFile(dir, "tasks", "0") != nil {
			return false, nil, back()
		}
		in = append(in, dir)
	}
	startErr = start()
	return true, startErr, back()
}

// homeDirsV1 maps each of c's dirs to the dir of the cgroup pipe is in, in
// the same hierarchy, or to "" where pipe's cgroup file names none.
func (m *cgroupManager) homeDirsV1(c *cgroup) map[string]string {
	m.homeOnce.Do(func() {
		m.home = map[string]string{}
		for controller := range m.layout.v1 {
			if h, ok := m.selfDirV1(controller); ok {
				m.home[controller] = h
			}
		}
	})
	home := make(map[string]string, len(c.dirs))
	for controller, dir := range c.dirs {
		if h := m.home[controller]; h != "" || home[dir] == "" {
			home[dir] = h
		}
	}
	return home
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
