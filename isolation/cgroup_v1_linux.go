package isolation

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// prepareV1 creates the parent in every hierarchy and returns the optional
// controllers that are not mounted.
func (m *cgroupManager) prepareV1() ([]string, error) {
	for _, dir := range m.parentDirs() {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create cgroup parent: %w", err)
		}
	}
	// Hierarchical accounting makes the parent's usage the sum of its
	// containers'. Kernels since 5.x always have it (and refuse 0); older
	// ones accept 1 only while the parent has no children, hence best effort.
	mem := filepath.Join(m.layout.v1["memory"], m.parent)
	if v, err := readInt(filepath.Join(mem, "memory.use_hierarchy")); err == nil && v != 1 {
		_ = writeCgroupFile(mem, "memory.use_hierarchy", "1")
	}
	var missing []string
	for _, name := range v1Controllers {
		if m.layout.v1[name] == "" {
			missing = append(missing, name)
		}
	}
	return missing, nil
}

// applyV1 writes the limits into the container's v1 cgroups. Memory (when
// limited) and pids are required; cpu and blkio are skipped with a warning
// when not mounted.
func (m *cgroupManager) applyV1(c *cgroup, l Limits) error {
	if err := applyV1Memory(c, l); err != nil {
		return err
	}
	pids := c.dirs["pids"]
	if pids == "" {
		return errors.New("the pids controller is not mounted (mount it on /sys/fs/cgroup/pids): " +
			"pipe needs it to bound the number of processes")
	}
	if err := writeCgroupFile(pids, "pids.max", strconv.FormatInt(pidsLimit(l), 10)); err != nil {
		return err
	}
	if err := c.applyV1CPU(l); err != nil {
		return err
	}
	return c.applyV1IO(l, m.device())
}

func applyV1Memory(c *cgroup, l Limits) error {
	dir := c.dirs["memory"]
	if l.Memory <= 0 {
		return nil
	}
	if dir == "" {
		return errors.New("the memory controller is not mounted: cannot enforce the memory limit")
	}
	v := strconv.FormatInt(l.Memory, 10)
	if err := writeCgroupFile(dir, "memory.limit_in_bytes", v); err != nil {
		return err
	}
	// memory+swap equal to memory: no swap beyond the limit. Absent
	// without swap accounting (swapaccount=0 or no swap support).
	if fileExists(filepath.Join(dir, "memory.memsw.limit_in_bytes")) {
		return writeCgroupFile(dir, "memory.memsw.limit_in_bytes", v)
	}
	_ = writeCgroupFile(dir, "memory.swappiness", "0")
	c.warnings = append(c.warnings, "no swap accounting: swap use is discouraged (swappiness 0) but not limited")
	return nil
}

func (c *cgroup) applyV1CPU(l Limits) error {
	if l.CPUs <= 0 {
		return nil
	}
	dir := c.dirs["cpu"]
	if dir == "" {
		c.warnings = append(c.warnings, "the cpu controller is not mounted: the CPU limit is not enforced")
		return nil
	}
	if err := writeCgroupFile(dir, "cpu.cfs_period_us", strconv.Itoa(cfsPeriod)); err != nil {
		return err
	}
	return writeCgroupFile(dir, "cpu.cfs_quota_us", strconv.FormatInt(cpuQuota(l.CPUs), 10))
}

func (c *cgroup) applyV1IO(l Limits, dev string) error {
	if l.IOReadBPS <= 0 && l.IOWriteBPS <= 0 {
		return nil
	}
	dir := c.dirs["blkio"]
	switch {
	case dir == "":
		c.warnings = append(c.warnings, "the blkio controller is not mounted: I/O limits are not enforced")
		return nil
	case dev == "":
		c.warnings = append(c.warnings, "no block device known for the store: I/O limits are not enforced")
		return nil
	}
	if l.IOReadBPS > 0 {
		if err := writeCgroupFile(dir, "blkio.throttle.read_bps_device", fmt.Sprintf("%s %d", dev, l.IOReadBPS)); err != nil {
			return err
		}
	}
	if l.IOWriteBPS > 0 {
		return writeCgroupFile(dir, "blkio.throttle.write_bps_device", fmt.Sprintf("%s %d", dev, l.IOWriteBPS))
	}
	return nil
}

// killV1 freezes the cgroup (so nothing forks or exits meanwhile), sends
// SIGKILL to every process, thaws it so the signals are delivered, and
// repeats until the cgroup is empty. Without a freezer it just repeats the
// SIGKILLs.
func (c *cgroup) killV1() error {
	// pipe's launcher thread is in a container's cgroup only while it
	// forks that container's init (startInV1). Should it ever be left
	// there, freezing the cgroup would freeze pipe, and killing it kill
	// pipe: refuse, and say so.
	if pids, _ := c.procs(); slices.Contains(pids, os.Getpid()) {
		return fmt.Errorf("pipe's own process (%d) is in this cgroup (its launcher thread did not leave it): not freezing or killing it", os.Getpid())
	}
	freezer := c.dirs["freezer"]
	if freezer == "" {
		return c.killFrozen(func() error { return nil }, func() error { return nil })
	}
	return c.killFrozen(
		func() error { return freezeV1(freezer) },
		func() error { return writeCgroupFile(freezer, "freezer.state", "THAWED") })
}

// freezeV1 asks the freezer for FROZEN and waits until it is, or until
// freezeTimeout (a task stuck in the kernel can keep it FREEZING).
func freezeV1(dir string) error {
	if err := writeCgroupFile(dir, "freezer.state", "FROZEN"); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	deadline := time.Now().Add(freezeTimeout)
	for {
		b, err := os.ReadFile(filepath.Join(dir, "freezer.state"))
		if err != nil {
			return err
		}
		state := strings.TrimSpace(string(b))
		if state == "FROZEN" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("freezer %s stuck in %s after %s", dir, state, freezeTimeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// statsV1 reads memory.max_usage_in_bytes, cpuacct.usage and the OOM kill
// count of memory.oom_control.
func (c *cgroup) statsV1() (cgroupStats, error) {
	var s cgroupStats
	var errs []error
	if dir := c.dirs["memory"]; dir != "" {
		peak, err := readInt(filepath.Join(dir, "memory.max_usage_in_bytes"))
		errs = append(errs, err)
		s.PeakMemory = peak
		oom, err := readKeyed(filepath.Join(dir, "memory.oom_control"))
		errs = append(errs, err)
		// oom_kill exists since Linux 4.13; before, under_oom is all there is.
		s.OOMKilled = oom["oom_kill"] > 0 || oom["under_oom"] > 0
	}
	if dir := c.dirs["cpuacct"]; dir != "" {
		ns, err := readInt(filepath.Join(dir, "cpuacct.usage"))
		errs = append(errs, err)
		s.CPUTime = time.Duration(ns)
	}
	return s, errors.Join(errs...)
}
