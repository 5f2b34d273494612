package isolation

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Cgroups of a rootless pipe. An ordinary user may only manage a cgroup v2
// subtree delegated to them (owned by them, with cgroup.procs and
// cgroup.subtree_control writable: systemd's user manager and units with
// Delegate=yes do this). Then pipe moves itself, and the outside process of
// EnterUserNS, into a leaf "supervisor" of the delegated cgroup (cgroup v2
// lets a cgroup with processes of its own have no controllers for its
// children) and treats the delegated cgroup as the root of its hierarchy:
// the containers' cgroups are <delegated>/<parent>/<id>, with every limit.
// Anything else (cgroup v1, whose controllers are never delegated; a v2
// cgroup that is not the user's) leaves containers without a cgroup.

// supervisorCgroup is the leaf a rootless pipe moves itself into.
const supervisorCgroup = "supervisor"

// noCgroups is a manager that gives containers no cgroup: no limits, no
// accounting; containers are killed through their pid namespace's init.
func noCgroups(parent string) *cgroupManager {
	return &cgroupManager{parent: parent, selfCgroup: "/proc/self/cgroup"}
}

// rootlessCgroups returns the manager of a rootless pipe, and when it is
// noCgroups, why, as a sentence for the user.
func rootlessCgroups(cfg cgroupConfig) (*cgroupManager, string) {
	cfg = cfg.withDefaults()
	parent := cfg.parent
	m, err := newCgroupManagerWith(cfg)
	if err != nil {
		return noCgroups(parent), "no usable cgroup hierarchy (" + err.Error() + ")"
	}
	if m.layout.version != 2 {
		return noCgroups(parent), "the machine uses cgroup v1, whose controllers the kernel never delegates to an ordinary user"
	}
	data, err := os.ReadFile(m.selfCgroup)
	if err != nil {
		return noCgroups(parent), "pipe cannot read its own cgroup (" + err.Error() + ")"
	}
	own := ownCgroupV2(data)
	if filepath.Base(own) == supervisorCgroup {
		own = filepath.Dir(own) // a Runtime of this process (or its parent) moved it already
	}
	dir := filepath.Join(m.layout.unified, own)
	if why := checkDelegated(dir, own); why != "" {
		return noCgroups(parent), why
	}
	if err := enterSupervisor(dir, cfg.movePids); err != nil {
		return noCgroups(parent), fmt.Sprintf("pipe cannot move itself into %s/%s (%v)", own, supervisorCgroup, err)
	}
	if pids, _ := readPids(filepath.Join(dir, "cgroup.procs")); len(pids) > 0 {
		// Others (the user's shell) stay in pipe's cgroup, which therefore
		// cannot give its children controllers: one level up will do, when
		// it is delegated too and holds no process.
		up := filepath.Dir(dir)
		if !upOK(m.layout.unified, up) || enterSupervisor(up, cfg.movePids) != nil {
			return noCgroups(parent), fmt.Sprintf("pipe's cgroup %s holds other processes (%v), and its parent is no delegated cgroup without processes; "+
				"start pipe in a cgroup of its own, e.g. with systemd-run --user --scope -p Delegate=yes", own, pids)
		}
		_ = os.Remove(filepath.Join(dir, supervisorCgroup))
		dir = up
	}
	m.layout.unified = dir
	return m, ""
}

// upOK says whether up, the parent of pipe's own cgroup, may serve as the
// root instead: inside the hierarchy at mnt, delegated, without processes.
func upOK(mnt, up string) bool {
	if len(up) <= len(mnt) || checkDelegated(up, up) != "" {
		return false
	}
	pids, err := readPids(filepath.Join(up, "cgroup.procs"))
	return err == nil && len(pids) == 0
}

// checkDelegated says why dir (pipe's own v2 cgroup, own its path) is not
// usable, or "" when it is.
func checkDelegated(dir, own string) string {
	for _, f := range []string{"", "cgroup.procs", "cgroup.subtree_control"} {
		if unix.Access(filepath.Join(dir, f), unix.W_OK) != nil {
			return fmt.Sprintf("pipe's cgroup %s is not delegated to you (%s is not writable)", own, filepath.Join(dir, f))
		}
	}
	avail, err := readControllerSet(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return fmt.Sprintf("pipe cannot read %s/cgroup.controllers (%v)", dir, err)
	}
	var missing []string
	for _, c := range []string{"memory", "pids"} {
		if !avail[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("pipe's cgroup %s is delegated without the %s controller(s)", own, strings.Join(missing, " and "))
	}
	return ""
}

// enterSupervisor moves pids (default: this process and its parent, the
// outside process of EnterUserNS, which is in the same cgroup) into dir's
// supervisor leaf.
func enterSupervisor(dir string, pids []int) error {
	leaf := filepath.Join(dir, supervisorCgroup)
	if err := os.Mkdir(leaf, 0o755); err != nil && !os.IsExist(err) {
		return err
	}
	if pids == nil {
		pids = []int{os.Getppid(), os.Getpid()}
	}
	for _, pid := range pids {
		if err := writeCgroupFile(leaf, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return err
		}
	}
	return nil
}

// cgroupHelp says how to get limits for a rootless pipe.
const cgroupHelp = "to apply them, run pipe on a cgroup v2 machine (systemd.unified_cgroup_hierarchy=1) " +
	"inside a cgroup delegated to you: systemd-run --user --scope -p Delegate=yes pipe run " +
	"(for the cpuset and io controllers too, add Delegate=cpu cpuset io memory pids in " +
	"/etc/systemd/system/user@.service.d/delegate.conf)"
