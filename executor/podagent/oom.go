package podagent

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// oomKills is how many processes the OOM killer has killed in this
// container's memory cgroup: oom_kill of memory.events (cgroup v2) or of
// memory.oom_control (cgroup v1, kernels since 4.13). ok is false when
// neither can be read: then Run cannot tell, and the kubelet's reason is
// the only source.
//
// Why the agent counts at all: the kubelet (through containerd) sets the
// reason OOMKilled only when it sees the kill's event in time, which it
// misses now and then when pods start together; the cgroup's counter is
// never missed.
func (p Paths) oomKills() (n int64, ok bool) {
	for _, c := range p.oomCounters() {
		if n, ok := readCounter(c, "oom_kill"); ok {
			return n, true
		}
	}
	return 0, false
}

// oomCounters are the files that may hold the counter, best first: the
// cgroup /proc/self/cgroup names, under the cgroup mount, then the mount's
// root. Without a cgroup namespace (cgroup v1 on containerd) /proc/self/cgroup
// names the host's path, which is not mounted in the container: there the
// runtime mounts the container's own cgroup at the mount's root.
func (p Paths) oomCounters() []string {
	b, _ := os.ReadFile(p.ProcCgroup)
	var v1, v2 []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.SplitN(line, ":", 3)
		switch {
		case len(f) != 3:
		case f[0] == "0" && f[1] == "":
			v2 = append(v2, filepath.Join(p.Cgroup, filepath.Clean("/"+f[2]), "memory.events"))
		case hasController(f[1], "memory"):
			v1 = append(v1, filepath.Join(p.Cgroup, "memory", filepath.Clean("/"+f[2]), "memory.oom_control"))
		}
	}
	// On a hybrid host the v1 memory controller is the one that limits.
	out := append(v1, filepath.Join(p.Cgroup, "memory", "memory.oom_control"))
	return append(append(out, v2...), filepath.Join(p.Cgroup, "memory.events"))
}

func hasController(list, name string) bool {
	for _, c := range strings.Split(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// readCounter reads the value of key from a flat-keyed cgroup file
// ("key value" lines).
func readCounter(path, key string) (int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, found := strings.Cut(sc.Text(), " ")
		if found && k == key {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
