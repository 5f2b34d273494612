package pipetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Leftovers lists what is left on the host of the job named job in the
// store at home: its state dir, processes whose command line holds the
// state dir or one of markers, container records in /run/pipe, cgroups and
// mounts. It waits (generously) for processes that are still going away.
func Leftovers(home, job string, markers ...string) []string {
	var left []string
	dir := filepath.Join(home, "jobs", job)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		left = append(left, "state dir "+dir)
	}
	for _, m := range append([]string{dir}, markers...) {
		left = append(left, waitNoProcess(m)...)
	}
	recs, _ := filepath.Glob("/run/pipe/containers/" + job + "-*")
	left = append(left, recs...)
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/pipe/" + job + "-*")
	cg2, _ := filepath.Glob("/sys/fs/cgroup/pipe/" + job + "-*")
	left = append(append(left, cgs...), cg2...)
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		if strings.Contains(l, dir) || strings.Contains(l, "/"+job+"-") {
			left = append(left, "mount "+l)
		}
	}
	return left
}

// waitNoProcess waits until no process's command line holds s, and
// returns those still there after 20 s.
func waitNoProcess(s string) []string {
	var left []string
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if left = ProcessesWith(s); len(left) == 0 {
			return nil
		}
	}
	return left
}

// ProcessesWith lists the processes whose command line holds s.
func ProcessesWith(s string) []string {
	var out []string
	pids, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	self := filepath.Join("/proc", strconv.Itoa(os.Getpid()), "cmdline")
	for _, p := range pids {
		if p == self {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil || len(b) == 0 {
			continue
		}
		cmd := strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " ")
		if strings.Contains(cmd, s) {
			out = append(out, "process "+filepath.Base(filepath.Dir(p))+": "+cmd)
		}
	}
	return out
}

// DestroyJobs destroys every job left in the store at home, with the pipe
// binary (a test that failed half way): their keepers and containers would
// otherwise outlive the test's removal of home.
func DestroyJobs(pipe, home string) {
	entries, _ := os.ReadDir(filepath.Join(home, "jobs"))
	for _, e := range entries {
		cmd := exec.Command(pipe, "gitlab", "cleanup")
		cmd.Env = append(os.Environ(), "PIPE_HOME="+home, "PIPE_GITLAB_JOB="+e.Name())
		_ = cmd.Run()
	}
}
