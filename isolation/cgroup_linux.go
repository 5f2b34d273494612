package isolation

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// killTimeout bounds cgroup.kill: how long the processes of a cgroup may
	// take to die once pipe has sent them SIGKILL.
	killTimeout = 10 * time.Second
	// freezeTimeout bounds the wait for a v1 freezer to reach FROZEN.
	freezeTimeout = 2 * time.Second
	// rmdirTimeout bounds the retries of rmdir while the kernel says EBUSY.
	rmdirTimeout = 2 * time.Second
)

// newCgroupManager detects the cgroup layout and returns a manager for the
// per-container cgroups under parent ("" means "pipe"). The parent is created
// (and on v2 its controllers enabled) on the first create.
func newCgroupManager(parent string) (*cgroupManager, error) {
	return newCgroupManagerWith(cgroupConfig{parent: parent})
}

// newCgroupManagerWith is newCgroupManager with the files it reads replaced,
// for tests over fake trees.
func newCgroupManagerWith(cfg cgroupConfig) (*cgroupManager, error) {
	cfg = cfg.withDefaults()
	if err := validCgroupParent(cfg.parent); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(cfg.mountinfo)
	if err != nil {
		return nil, fmt.Errorf("detect cgroups: %w", err)
	}
	layout, err := detectCgroupLayout(data)
	if err != nil {
		return nil, fmt.Errorf("detect cgroups: %w", err)
	}
	return &cgroupManager{layout: layout, parent: cfg.parent, selfCgroup: cfg.selfCgroup}, nil
}

// prepare makes sure the parent exists (and on v2 has its controllers
// enabled), once; a failure is retried on the next call.
func (m *cgroupManager) prepare() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.prepared {
		return nil
	}
	var missing []string
	var err error
	if m.layout.version == 2 {
		missing, err = m.prepareV2()
	} else {
		missing, err = m.prepareV1()
	}
	if err != nil {
		return err
	}
	m.missing, m.prepared = missing, true
	return nil
}

// create makes the cgroup of container id with limits l. On any error
// nothing of it is left behind.
func (m *cgroupManager) create(id string, l Limits) (*cgroup, error) {
	if err := validCgroupID(id); err != nil {
		return nil, err
	}
	if m.layout.version == 0 { // noCgroups: rootless without a delegated cgroup
		return &cgroup{id: id, dirs: map[string]string{}, dirFD: -1}, nil
	}
	if err := m.prepare(); err != nil {
		return nil, err
	}
	c := m.cgroupFor(id)
	if err := c.mkdirs(); err != nil {
		return nil, err
	}
	if err := m.apply(c, l); err != nil {
		return nil, errors.Join(err, c.destroy())
	}
	return c, nil
}

// apply writes limits l into c, which may already hold processes (a
// prestarted init: see init_pool_linux.go).
func (m *cgroupManager) apply(c *cgroup, l Limits) error {
	var err error
	switch c.version {
	case 0: // noCgroups
		return nil
	case 2:
		err = m.applyV2(c, l)
	default:
		err = m.applyV1(c, l)
	}
	if err != nil {
		return fmt.Errorf("cgroup for container %s: %w", c.id, err)
	}
	return nil
}

// cgroupFor describes the cgroup of container id without touching it.
func (m *cgroupManager) cgroupFor(id string) *cgroup {
	c := &cgroup{id: id, version: m.layout.version, dirs: map[string]string{}, dirFD: -1}
	if m.layout.version == 2 {
		dir := filepath.Join(m.layout.unified, m.parent, id)
		for _, name := range v2Controllers {
			c.dirs[name] = dir
		}
		return c
	}
	for name, mnt := range m.layout.v1 {
		c.dirs[name] = filepath.Join(mnt, m.parent, id)
	}
	return c
}

// parentDirs lists the parent's dir in every hierarchy pipe uses.
func (m *cgroupManager) parentDirs() []string {
	if m.layout.version == 2 {
		return []string{filepath.Join(m.layout.unified, m.parent)}
	}
	set := map[string]bool{}
	for _, mnt := range m.layout.v1 {
		set[filepath.Join(mnt, m.parent)] = true
	}
	return sortedKeys(set)
}

// cleanup kills and removes every child cgroup of the parent whose ID
// isLive does not claim: leftovers of a pipe that was killed.
func (m *cgroupManager) cleanup(isLive func(id string) bool) error {
	ids := map[string]bool{}
	for _, dir := range m.parentDirs() {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("clean up cgroups: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() && validCgroupID(e.Name()) == nil {
				ids[e.Name()] = true
			}
		}
	}
	var errs []error
	for _, id := range sortedKeys(ids) {
		if isLive != nil && isLive(id) {
			continue
		}
		c := m.cgroupFor(id)
		if err := c.kill(); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, c.destroy())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean up stale cgroups under %s: %w", m.parent, err)
	}
	return nil
}

// fd returns the v2 cgroup's dir fd for SysProcAttr.CgroupFD (with
// UseCgroupFD), so that the child starts inside it. The cgroup owns the fd
// (destroy closes it). On v1 it returns -1, false: use addProc instead.
func (c *cgroup) fd() (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.version != 2 || c.dirFD < 0 {
		return -1, false
	}
	return c.dirFD, true
}

// addProc moves process pid (with all its threads) into the cgroup, in every
// hierarchy.
func (c *cgroup) addProc(pid int) error {
	for _, dir := range c.distinctDirs() {
		if err := writeCgroupFile(dir, "cgroup.procs", strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("add process %d to cgroup of container %s: %w", pid, c.id, err)
		}
	}
	return nil
}

// kill kills every process in the cgroup and returns once it is empty, or
// with an error naming what is still alive after killTimeout.
func (c *cgroup) kill() error {
	var err error
	switch c.version {
	case 0:
		return nil // no cgroup: killing init empties the pid namespace
	case 2:
		err = c.killV2()
	default:
		err = c.killV1()
	}
	if err != nil {
		return fmt.Errorf("kill processes of container %s: %w", c.id, err)
	}
	return nil
}

// stats reads what the container used. Call it before destroy.
func (c *cgroup) stats() (cgroupStats, error) {
	var s cgroupStats
	var err error
	if c.version == 0 {
		return s, nil
	}
	if c.version == 2 {
		s, err = c.statsV2()
	} else {
		s, err = c.statsV1()
	}
	if err != nil {
		return s, fmt.Errorf("read cgroup stats of container %s: %w", c.id, err)
	}
	return s, nil
}

// destroy removes every dir of the cgroup (killing what is still in it
// first). It is idempotent.
func (c *cgroup) destroy() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed {
		return nil
	}
	if c.dirFD >= 0 {
		unix.Close(c.dirFD)
		c.dirFD = -1
	}
	if pids, _ := c.procs(); len(pids) > 0 {
		if err := c.kill(); err != nil {
			return fmt.Errorf("destroy cgroup of container %s: %w", c.id, err)
		}
	}
	var errs []error
	for _, dir := range c.distinctDirs() {
		errs = append(errs, removeCgroupTree(dir))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("destroy cgroup of container %s: %w", c.id, err)
	}
	c.destroyed = true
	return nil
}

// distinctDirs lists the cgroup's dirs once each (co-mounted controllers
// share one), sorted.
func (c *cgroup) distinctDirs() []string {
	set := map[string]bool{}
	for _, d := range c.dirs {
		set[d] = true
	}
	return sortedKeys(set)
}

// mkdirs creates the cgroup's dirs; an existing one is an error, as it
// belongs to another container or to a killed pipe (cleanup removes those).
// On error the dirs it made are removed again; the others are left alone.
func (c *cgroup) mkdirs() error {
	var made []string
	for _, dir := range c.distinctDirs() {
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			made = append(made, dir)
			continue
		}
		hint := ""
		if errors.Is(err, os.ErrExist) {
			hint = " (a live container has this ID, or a killed pipe left it: pipe's cleanup removes it)"
		}
		errs := []error{fmt.Errorf("create cgroup of container %s: %w%s", c.id, err, hint)}
		for _, d := range made {
			errs = append(errs, rmdirRetry(d))
		}
		return errors.Join(errs...)
	}
	return nil
}

// procs lists the processes in the cgroup and its descendants, in every
// hierarchy, without duplicates.
func (c *cgroup) procs() ([]int, error) {
	set := map[int]bool{}
	var errs []error
	for _, dir := range c.distinctDirs() {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return err
			}
			pids, err := readPids(filepath.Join(p, "cgroup.procs"))
			for _, pid := range pids {
				set[pid] = true
			}
			return err
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	out := make([]int, 0, len(set))
	for pid := range set {
		out = append(out, pid)
	}
	sort.Ints(out)
	return out, errors.Join(errs...)
}

// waitEmpty waits until no process is left in the cgroup.
func (c *cgroup) waitEmpty(deadline time.Time) error {
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		pids, err := c.procs()
		if err == nil && len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return err
			}
			return stuckError(pids)
		}
		time.Sleep(delay)
	}
}

// signalAll sends sig to every pid, ignoring those already gone.
func signalAll(pids []int, sig syscall.Signal) error {
	var errs []error
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("kill %d: %w", pid, err))
		}
	}
	return errors.Join(errs...)
}

// stuckError names the processes that outlived SIGKILL and their states
// (D: uninterruptible sleep, usually a hung filesystem or device).
func stuckError(pids []int) error {
	var desc []string
	for _, pid := range pids {
		desc = append(desc, describeProc(pid))
	}
	return fmt.Errorf("%d processes still alive after SIGKILL: %s (state D means stuck in the kernel, "+
		"often on a hung mount or device; check /proc/PID/stack)", len(pids), strings.Join(desc, ", "))
}

// describeProc is "pid (comm) state" from /proc/pid/stat, or just the pid.
func describeProc(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return strconv.Itoa(pid)
	}
	s := string(b)
	end := strings.LastIndexByte(s, ')')
	if end < 0 || end+3 > len(s) {
		return strconv.Itoa(pid)
	}
	return s[:end+1] + " " + s[end+2:end+3]
}

// readPids reads a cgroup.procs or tasks file.
func readPids(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out, nil
}

// writeCgroupFile writes value to dir/name. O_CREATE only matters for the
// fake trees of tests: cgroupfs files already exist and cannot be created.
func writeCgroupFile(dir, name, value string) error {
	path := filepath.Join(dir, name)
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err == nil {
			_, err = f.WriteString(value)
			err = errors.Join(err, f.Close())
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("write %q to %s: %w", value, path, err)
		}
		return nil
	}
}

// removeCgroupTree removes dir and its sub-cgroups, deepest first, retrying
// while the kernel says EBUSY (processes that are still exiting). A missing
// dir is fine.
func removeCgroupTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeCgroupTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	return rmdirRetry(dir)
}

func rmdirRetry(dir string) error {
	deadline := time.Now().Add(rmdirTimeout)
	for {
		err := unix.Rmdir(dir)
		switch {
		case err == nil || errors.Is(err, unix.ENOENT):
			return nil
		case (errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EINTR)) && time.Now().Before(deadline):
			time.Sleep(10 * time.Millisecond)
		default:
			return &os.PathError{Op: "rmdir", Path: dir, Err: err}
		}
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func sortedKeys[K interface{ ~string | ~int }](m map[K]bool) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// killFrozen freezes the cgroup (so nothing forks or exits meanwhile), sends
// SIGKILL to every process, thaws it so the signals are delivered, and
// repeats with a growing pause until the cgroup is empty or killTimeout has
// passed. A freeze that fails (a task stuck in the kernel) does not stop it:
// the SIGKILLs go out anyway; a thaw that fails does, since signals would
// then never be delivered.
func (c *cgroup) killFrozen(freeze, thaw func() error) error {
	deadline := time.Now().Add(killTimeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		frozeErr := freeze()
		pids, err := c.procs()
		killErr := signalAll(pids, unix.SIGKILL)
		if err := thaw(); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if err == nil && len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.Join(c.waitEmpty(time.Now()), frozeErr, killErr)
		}
		if c.waitEmpty(time.Now().Add(delay)) == nil {
			return nil
		}
	}
}
