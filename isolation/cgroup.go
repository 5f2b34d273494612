package isolation

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Cgroups: one cgroup per container, under a parent ("pipe" by default) at the
// top of each hierarchy. Both layouts are handled, chosen at run time:
//
//   - v2: a cgroup2 hierarchy whose cgroup.controllers really lists the memory
//     controller. One dir per container; the child starts in it with
//     CLONE_INTO_CGROUP (see cgroup.fd).
//   - v1 (and hybrid, where a cgroup2 hierarchy is mounted but holds no
//     controllers): one dir per container in each of the memory, cpu, cpuacct,
//     pids, freezer and blkio hierarchies that are mounted (co-mounted ones
//     share a dir). The runtime adds init's pid with cgroup.addProc before
//     releasing it.
//
// The layout is read from /proc/self/mountinfo, never assumed from names.

const (
	defaultCgroupParent = "pipe"
	// defaultPidsLimit bounds processes and threads when Limits.Pids is 0:
	// enough for parallel builds, low enough to stop a fork bomb.
	defaultPidsLimit = 4096
	// cfsPeriod is the CPU bandwidth period in microseconds (cpu.max, cfs_period_us).
	cfsPeriod = 100000
	// minCFSQuota is the kernel's lower bound for a quota, in microseconds.
	minCFSQuota = 1000
)

// v1Controllers are the v1 controllers pipe uses, in creation order.
var v1Controllers = [...]string{"memory", "pids", "cpu", "cpuacct", "freezer", "blkio"}

// v2Controllers are the v2 controllers pipe enables in subtree_control.
var v2Controllers = [...]string{"memory", "pids", "cpu", "io"}

// cgroupNamePattern is what a container ID or a cgroup parent element may
// be, as a regular expression for messages; validCgroupName checks it.
const cgroupNamePattern = `^[a-zA-Z0-9_.-]{1,128}$`

// validCgroupName reports whether s matches cgroupNamePattern. It is plain
// code, not a regexp compiled at package init: every container init (the
// same binary) would pay for that.
func validCgroupName(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
		if !ok {
			return false
		}
	}
	return true
}

// cgroupStats is what a container used, read back from its cgroup.
type cgroupStats struct {
	PeakMemory int64         // bytes; 0 when the kernel does not say
	CPUTime    time.Duration // user+system of every process that ran in it
	OOMKilled  bool          // the OOM killer killed a process in it
}

// cgroupLayout is the cgroup hierarchies found at run time.
type cgroupLayout struct {
	version int
	// unified is the cgroup2 mount point (v2 only).
	unified string
	// v1 maps a controller name to its hierarchy's mount point (v1 only);
	// co-mounted controllers map to the same dir.
	v1 map[string]string
}

// cgroupManager creates, kills and removes the per-container cgroups under
// one parent. Its methods are safe for concurrent use.
type cgroupManager struct {
	layout cgroupLayout
	parent string // relative path under each hierarchy's mount point

	// selfCgroup is the file that says which cgroups pipe itself is in
	// (/proc/self/cgroup; a fake in tests).
	selfCgroup string

	// home maps a v1 controller to the dir of pipe's cgroup in its
	// hierarchy, read once (see homeDirsV1).
	homeOnce sync.Once
	home     map[string]string

	mu       sync.Mutex
	ioDevice string // "major:minor" of the block device to throttle; "" = none
	prepared bool   // the parent exists with its controllers enabled
	missing  []string
}

// cgroup is one container's cgroup: one dir on v2, one per hierarchy on v1.
type cgroup struct {
	id      string
	version int
	// dirs maps a controller name to the container's dir in its hierarchy.
	// On v2 every controller maps to the one dir.
	dirs map[string]string
	// warnings say which asked-for limits were not applied and why.
	warnings []string

	mu        sync.Mutex
	dirFD     int // v2: O_PATH fd of the dir, -1 when closed
	peak      int64
	destroyed bool
}

// cgroupConfig is what newCgroupManagerWith reads; every field has a default,
// which tests replace with a fake tree.
type cgroupConfig struct {
	parent     string // default "pipe"
	mountinfo  string // default /proc/self/mountinfo
	selfCgroup string // default /proc/self/cgroup
	movePids   []int  // rootless: who moves into the supervisor leaf (tests); default pipe and its parent
}

func (c cgroupConfig) withDefaults() cgroupConfig {
	if c.parent == "" {
		c.parent = defaultCgroupParent
	}
	if c.mountinfo == "" {
		c.mountinfo = "/proc/self/mountinfo"
	}
	if c.selfCgroup == "" {
		c.selfCgroup = "/proc/self/cgroup"
	}
	return c
}

// validCgroupParent checks a parent such as "pipe" or "ci/pipe".
func validCgroupParent(p string) error {
	for _, el := range strings.Split(p, "/") {
		if !validCgroupName(el) || el == "." || el == ".." {
			return fmt.Errorf("cgroup parent %q: each element must match %s and not be . or ..", p, cgroupNamePattern)
		}
	}
	return nil
}

// validCgroupID checks a container ID before it becomes a dir name.
func validCgroupID(id string) error {
	if !validCgroupName(id) || id == "." || id == ".." {
		return fmt.Errorf("cgroup for container %q: the ID must match %s", id, cgroupNamePattern)
	}
	return nil
}

// Version is 1 for the v1 (or hybrid) layout, 2 for the unified one.
func (m *cgroupManager) Version() int { return m.layout.version }

// setIODevice sets the block device ("major:minor") that the I/O limits
// apply to; "" turns them off.
func (m *cgroupManager) setIODevice(dev string) error {
	if dev != "" {
		if _, _, err := parseMajorMinor(dev); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ioDevice = dev
	return nil
}

func (m *cgroupManager) device() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ioDevice
}

// missingControllers lists the optional controllers that are not available,
// so that the runtime can say which limits are not enforced here.
func (m *cgroupManager) missingControllers() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.missing...)
}

func parseMajorMinor(dev string) (uint64, uint64, error) {
	maj, min, ok := strings.Cut(strings.TrimSpace(dev), ":")
	a, err1 := strconv.ParseUint(maj, 10, 32)
	b, err2 := strconv.ParseUint(min, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("block device %q: want major:minor such as 8:0", dev)
	}
	return a, b, nil
}

// mountEntry is one cgroup or cgroup2 line of /proc/self/mountinfo.
type mountEntry struct {
	mountPoint string
	fsType     string
	superOpts  []string
}

// parseCgroupMounts returns the cgroup and cgroup2 mounts of a mountinfo file.
func parseCgroupMounts(data []byte) []mountEntry {
	var out []mountEntry
	// Line by line over data itself: a bufio.Scanner's 64 KiB buffer was
	// most of a warm pipe run's page faults in here.
	for line := range strings.Lines(string(data)) {
		fields := strings.Fields(line)
		sep := -1
		for i, f := range fields {
			if f == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || len(fields) < sep+4 {
			continue
		}
		fs := fields[sep+1]
		if fs != "cgroup" && fs != "cgroup2" {
			continue
		}
		out = append(out, mountEntry{
			mountPoint: unescapeMountinfo(fields[4]),
			fsType:     fs,
			superOpts:  strings.Split(fields[sep+3], ","),
		})
	}
	return out
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// detectCgroupLayout picks v2 when a cgroup2 hierarchy really holds the memory
// controller, and v1 when the memory controller is mounted as v1. A cgroup2
// mount with no controllers (the hybrid layout's /sys/fs/cgroup/unified) is
// ignored.
func detectCgroupLayout(mountinfo []byte) (cgroupLayout, error) {
	mounts := parseCgroupMounts(mountinfo)
	for _, mt := range mounts {
		if mt.fsType == "cgroup2" && hasController(mt.mountPoint, "memory") {
			return cgroupLayout{version: 2, unified: mt.mountPoint}, nil
		}
	}
	v1 := map[string]string{}
	for _, mt := range mounts {
		if mt.fsType != "cgroup" {
			continue
		}
		for _, opt := range mt.superOpts {
			if isV1Controller(opt) && v1[opt] == "" {
				v1[opt] = mt.mountPoint
			}
		}
	}
	if v1["memory"] != "" {
		return cgroupLayout{version: 1, v1: v1}, nil
	}
	return cgroupLayout{}, errors.New("no usable cgroup hierarchy: the memory controller is neither " +
		"mounted as cgroup v1 nor enabled in a cgroup2 mount's cgroup.controllers " +
		"(mount cgroup2 on /sys/fs/cgroup or the v1 memory controller)")
}

func isV1Controller(name string) bool {
	for _, c := range v1Controllers {
		if c == name {
			return true
		}
	}
	return false
}

// hasController reports whether dir's cgroup.controllers lists name.
func hasController(dir, name string) bool {
	set, err := readControllerSet(filepath.Join(dir, "cgroup.controllers"))
	return err == nil && set[name]
}

// readControllerSet reads cgroup.controllers or cgroup.subtree_control
// (entries may carry a leading "+", as fakes written by pipe do).
func readControllerSet(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, f := range strings.Fields(string(b)) {
		set[strings.TrimPrefix(f, "+")] = true
	}
	return set, nil
}

// ownCgroupV2 returns pipe's own cgroup path in the unified hierarchy, from
// a /proc/self/cgroup file ("0::/path"); "" when it has no such line.
func ownCgroupV2(data []byte) string {
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	return ""
}

// readInt reads a file holding one integer (memory.peak, cpuacct.usage...).
func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return -1, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read %s: %q is not a number: %w", path, s, err)
	}
	return v, nil
}

// readKeyed reads a flat keyed file ("key value" lines: memory.events,
// cpu.stat, memory.oom_control) into a map.
func readKeyed(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

// cpuQuota turns a number of cores into a CFS quota for cfsPeriod.
func cpuQuota(cpus float64) int64 {
	q := int64(cpus * cfsPeriod)
	if q < minCFSQuota {
		q = minCFSQuota
	}
	return q
}

// pidsLimit is the limit to write: l.Pids, or the safe default.
func pidsLimit(l Limits) int64 {
	if l.Pids > 0 {
		return l.Pids
	}
	return defaultPidsLimit
}
