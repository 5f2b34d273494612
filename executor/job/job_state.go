package job

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/pipe-run/pipe/cache"
)

// keeperIdentity names the keeper process across pid reuse.
type keeperIdentity struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"` // clock ticks after boot (/proc/<pid>/stat field 22)
}

func selfIdentity() (keeperIdentity, error) { return identityOfPid(os.Getpid()) }

func identityOfPid(pid int) (keeperIdentity, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return keeperIdentity{}, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return keeperIdentity{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return keeperIdentity{}, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	start, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return keeperIdentity{}, err
	}
	return keeperIdentity{Pid: pid, Start: start}, nil
}

// alive says whether the recorded keeper still runs.
func (id keeperIdentity) alive() bool {
	now, err := identityOfPid(id.Pid)
	return err == nil && now.Start == id.Start
}

// kill ends the recorded keeper (its containers die with it).
func (id keeperIdentity) kill() {
	if id.alive() {
		_ = syscall.Kill(id.Pid, syscall.SIGKILL)
	}
}

// jobsRoot is where jobs live in the store.
func jobsRoot(s *cache.Store) string { return filepath.Join(s.Root(), "jobs") }

// Dir is the state dir of job name in the store.
func Dir(s *cache.Store, name string) string { return filepath.Join(jobsRoot(s), name) }

// readKeeper reads keeper.json of a job's state dir.
func readKeeper(dir string) (keeperIdentity, error) {
	var id keeperIdentity
	b, err := os.ReadFile(filepath.Join(dir, "keeper.json"))
	if err != nil {
		return id, err
	}
	return id, json.Unmarshal(b, &id)
}

// writeJSONAtomic writes v to path through a temp file and a rename.
func writeJSONAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// jobExists says whether the job's state dir is there.
func jobExists(s *cache.Store, name string) bool {
	_, err := os.Stat(Dir(s, name))
	return !errors.Is(err, os.ErrNotExist)
}

// Jobs lists the names of the jobs in the store (live or not), sorted.
func List(s *cache.Store) ([]string, error) {
	entries, err := os.ReadDir(jobsRoot(s))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jobs of the store %s: %w", s.Root(), err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && validJobName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	return names, nil
}
