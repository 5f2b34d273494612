package isolation

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// prepareV2 creates the parent and enables pipe's controllers in the
// subtree_control of every level from the mount root down to the parent, so
// that each container's cgroup gets them. It returns the optional
// controllers that could not be enabled.
//
// cgroup v2 forbids enabling controllers for the children of a cgroup that
// holds processes (except the root), so pipe must not run inside the parent.
func (m *cgroupManager) prepareV2() ([]string, error) {
	if err := m.checkNotInParent(); err != nil {
		return nil, err
	}
	dir := m.layout.unified
	levels := []string{dir}
	for _, el := range strings.Split(m.parent, "/") {
		dir = filepath.Join(dir, el)
		levels = append(levels, dir)
	}
	var enabled map[string]bool
	for i, lvl := range levels {
		if i > 0 {
			if err := os.Mkdir(lvl, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
				return nil, fmt.Errorf("create cgroup parent: %w", err)
			}
		}
		var err error
		if enabled, err = enableControllers(lvl); err != nil {
			return nil, err
		}
	}
	var missing []string
	for _, name := range v2Controllers {
		if !enabled[name] {
			missing = append(missing, name)
		}
	}
	return missing, nil
}

// checkNotInParent fails when pipe's own cgroup is the parent or inside it.
func (m *cgroupManager) checkNotInParent() error {
	data, err := os.ReadFile(m.selfCgroup)
	if err != nil {
		return fmt.Errorf("find pipe's own cgroup: %w", err)
	}
	own := ownCgroupV2(data)
	p := "/" + m.parent
	if own == p || strings.HasPrefix(own, p+"/") {
		return fmt.Errorf("pipe runs in cgroup %s, inside its own cgroup parent %s: cgroup v2 does not allow "+
			"processes there; run pipe in another cgroup or choose another cgroup parent", own, p)
	}
	return nil
}

// enableControllers turns on, in dir's cgroup.subtree_control, those of
// pipe's controllers that dir has, and returns what is enabled afterwards.
// memory and pids are required.
func enableControllers(dir string) (map[string]bool, error) {
	avail, err := readControllerSet(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("read cgroup controllers: %w", err)
	}
	ctl := filepath.Join(dir, "cgroup.subtree_control")
	enabled, err := readControllerSet(ctl)
	if err != nil {
		return nil, fmt.Errorf("read cgroup controllers: %w", err)
	}
	var want []string
	for _, name := range v2Controllers {
		if avail[name] && !enabled[name] {
			want = append(want, "+"+name)
		}
	}
	if len(want) == 0 {
		return enabled, checkRequiredV2(dir, enabled, nil)
	}
	// One write for all; if the kernel refuses one, each alone, so that an
	// optional controller does not keep the others off.
	var werr error
	if werr = writeCgroupFile(dir, "cgroup.subtree_control", strings.Join(want, " ")); werr != nil {
		for _, w := range want {
			werr = errors.Join(werr, writeCgroupFile(dir, "cgroup.subtree_control", w))
		}
	}
	if enabled, err = readControllerSet(ctl); err != nil {
		return nil, fmt.Errorf("read cgroup controllers: %w", err)
	}
	return enabled, checkRequiredV2(dir, enabled, werr)
}

func checkRequiredV2(dir string, enabled map[string]bool, werr error) error {
	for _, name := range []string{"memory", "pids"} {
		if !enabled[name] {
			hint := ""
			if errors.Is(werr, unix.EBUSY) {
				hint = " (EBUSY: the cgroup has processes of its own; cgroup v2 allows controllers for " +
					"children only in cgroups without processes: move them to a child cgroup)"
			}
			return errors.Join(fmt.Errorf("cannot enable the %s controller in %s/cgroup.subtree_control%s", name, dir, hint), werr)
		}
	}
	return nil
}

// applyV2 writes the limits into the container's cgroup and opens its fd.
func (m *cgroupManager) applyV2(c *cgroup, l Limits) error {
	dir := c.dirs["memory"]
	parent := filepath.Dir(dir)
	enabled, err := readControllerSet(filepath.Join(parent, "cgroup.subtree_control"))
	if err != nil {
		return fmt.Errorf("read cgroup controllers: %w", err)
	}
	if err := applyV2Memory(dir, parent, enabled["memory"], l); err != nil {
		return err
	}
	if !enabled["pids"] {
		return fmt.Errorf("the pids controller is not enabled in %s: pipe needs it to bound processes", parent)
	}
	if err := writeCgroupFile(dir, "pids.max", strconv.FormatInt(pidsLimit(l), 10)); err != nil {
		return err
	}
	if err := c.applyV2CPU(enabled["cpu"], l); err != nil {
		return err
	}
	if err := c.applyV2IO(enabled["io"], m.device(), l); err != nil {
		return err
	}
	return c.openFD()
}

// openFD opens the cgroup's dir for CLONE_INTO_CGROUP, once. O_PATH is
// enough: the kernel only needs the fd to name the cgroup.
func (c *cgroup) openFD() error {
	c.mu.Lock()
	open := c.dirFD >= 0
	c.mu.Unlock()
	if open {
		return nil
	}
	dir := c.dirs["memory"]
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: dir, Err: err}
	}
	c.mu.Lock()
	c.dirFD = fd
	c.mu.Unlock()
	return nil
}

// applyV2Memory sets memory.max, memory.swap.max=0 (no swap beyond the
// limit) and memory.oom.group=1 (an OOM kill takes the whole container, not
// one process of it). Optional files are looked up in the parent, which has
// the same ones as its children.
func applyV2Memory(dir, parent string, enabled bool, l Limits) error {
	if !enabled {
		if l.Memory > 0 {
			return fmt.Errorf("the memory controller is not enabled in %s: cannot enforce the memory limit", parent)
		}
		return nil
	}
	if l.Memory > 0 {
		if err := writeCgroupFile(dir, "memory.max", strconv.FormatInt(l.Memory, 10)); err != nil {
			return err
		}
		if fileExists(filepath.Join(parent, "memory.swap.max")) {
			if err := writeCgroupFile(dir, "memory.swap.max", "0"); err != nil {
				return err
			}
		}
	}
	if fileExists(filepath.Join(parent, "memory.oom.group")) {
		return writeCgroupFile(dir, "memory.oom.group", "1")
	}
	return nil
}

func (c *cgroup) applyV2CPU(enabled bool, l Limits) error {
	if l.CPUs <= 0 {
		return nil
	}
	if !enabled {
		c.warnings = append(c.warnings, "the cpu controller is not enabled: the CPU limit is not enforced")
		return nil
	}
	return writeCgroupFile(c.dirs["cpu"], "cpu.max", fmt.Sprintf("%d %d", cpuQuota(l.CPUs), cfsPeriod))
}

func (c *cgroup) applyV2IO(enabled bool, dev string, l Limits) error {
	if l.IOReadBPS <= 0 && l.IOWriteBPS <= 0 {
		return nil
	}
	switch {
	case !enabled:
		c.warnings = append(c.warnings, "the io controller is not enabled: I/O limits are not enforced")
		return nil
	case dev == "":
		c.warnings = append(c.warnings, "no block device known for the store: I/O limits are not enforced")
		return nil
	}
	return writeCgroupFile(c.dirs["io"], "io.max", fmt.Sprintf("%s rbps=%s wbps=%s", dev, bps(l.IOReadBPS), bps(l.IOWriteBPS)))
}

// bps is an io.max rate: the number, or "max" for none.
func bps(v int64) string {
	if v <= 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// killV2 writes cgroup.kill (Linux 5.14+), which kills the whole subtree at
// once, and waits until it is empty; older kernels get killV2ByFreezing.
func (c *cgroup) killV2() error {
	dir := c.dirs["memory"]
	if !fileExists(filepath.Join(dir, "cgroup.kill")) {
		return c.killV2ByFreezing()
	}
	if err := writeCgroupFile(dir, "cgroup.kill", "1"); err != nil {
		if !fileExists(dir) {
			return nil
		}
		return err
	}
	return c.waitEmpty(time.Now().Add(killTimeout))
}

// killV2ByFreezing freezes the cgroup (so nothing forks meanwhile), sends
// SIGKILL to every process, thaws it so the signals are delivered, and
// repeats until it is empty.
func (c *cgroup) killV2ByFreezing() error {
	dir := c.dirs["memory"]
	if !fileExists(dir) {
		return nil
	}
	return c.killFrozen(
		func() error { return freezeV2(dir) },
		func() error { return writeCgroupFile(dir, "cgroup.freeze", "0") })
}

// freezeV2 writes cgroup.freeze=1 and waits for "frozen 1" in cgroup.events.
func freezeV2(dir string) error {
	if err := writeCgroupFile(dir, "cgroup.freeze", "1"); err != nil {
		return err
	}
	deadline := time.Now().Add(freezeTimeout)
	for {
		ev, err := readKeyed(filepath.Join(dir, "cgroup.events"))
		if err != nil {
			return err
		}
		if ev["frozen"] == 1 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s not frozen after %s", dir, freezeTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// statsV2 reads memory.peak (Linux 5.19+; else the highest memory.current
// seen by any call), cpu.stat usage_usec and memory.events oom_kill.
func (c *cgroup) statsV2() (cgroupStats, error) {
	dir := c.dirs["memory"]
	var s cgroupStats
	var errs []error
	if peak, err := readInt(filepath.Join(dir, "memory.peak")); err == nil {
		s.PeakMemory = peak
	} else if cur, err := readInt(filepath.Join(dir, "memory.current")); err == nil {
		c.mu.Lock()
		c.peak = max(c.peak, cur)
		s.PeakMemory = c.peak
		c.mu.Unlock()
	}
	cpu, err := readKeyed(filepath.Join(dir, "cpu.stat"))
	errs = append(errs, err)
	s.CPUTime = time.Duration(cpu["usage_usec"]) * time.Microsecond
	if ev, err := readKeyed(filepath.Join(dir, "memory.events")); err == nil {
		s.OOMKilled = ev["oom_kill"] > 0
	}
	return s, errors.Join(errs...)
}
