package isolation

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The state dir records every live container (and netns pin) with the pid
// and start time of the pipe process that owns it. A record is written
// before anything of the container exists and removed after all of it is
// gone, so whatever a killed pipe left has a stale record: its owner's pid
// is gone, or reused by a process that started at another time.

// procIdentity names a process across pid reuse.
type procIdentity struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"` // clock ticks after boot (/proc/<pid>/stat field 22)
}

// identityOf reads the start time of pid.
func identityOf(pid int) (procIdentity, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procIdentity{}, fmt.Errorf("read start time of process %d: %w", pid, err)
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	fields := strings.Fields(s[i+1:])
	if i < 0 || len(fields) < 20 {
		return procIdentity{}, fmt.Errorf("parse /proc/%d/stat: unexpected %q", pid, s)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return procIdentity{}, fmt.Errorf("parse /proc/%d/stat start time: %w", pid, err)
	}
	return procIdentity{Pid: pid, Start: start}, nil
}

// alive says whether the process is still the one recorded.
func (p procIdentity) alive() bool {
	now, err := identityOf(p.Pid)
	return err == nil && now.Start == p.Start
}

// stateRecord is one live container or netns pin.
type stateRecord struct {
	Name    string       `json:"name"`
	Owner   procIdentity `json:"owner"`
	Scratch string       `json:"scratch,omitempty"` // container: its scratch dir
	Pin     string       `json:"pin,omitempty"`     // netns: its pin
}

func writeRecord(dir string, rec stateRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	final := filepath.Join(dir, rec.Name+".json")
	tmp := final + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("record %s in the state dir: %w", rec.Name, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("record %s in the state dir: %w", rec.Name, err)
	}
	return nil
}

func removeRecord(dir, name string) error {
	err := os.Remove(filepath.Join(dir, name+".json"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove state record of %s: %w", name, err)
	}
	return nil
}

// readRecords reads the records of dir; unreadable ones are skipped
// (a half-written .tmp file is not a record).
func readRecords(dir string) ([]stateRecord, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read state dir: %w", err)
	}
	var out []stateRecord
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		var rec stateRecord
		if json.Unmarshal(b, &rec) == nil && rec.Name+".json" == e.Name() {
			out = append(out, rec)
		}
	}
	return out, nil
}

// Cleanup removes what dead pipe processes left: their containers' cgroups
// (killing any process still in them), scratch dirs and records, and their
// netns pins. Containers of live pipe processes are left alone.
func (r *Runtime) Cleanup() error {
	recs, err := readRecords(containersDir(r.opts))
	if err != nil {
		return fmt.Errorf("isolation: clean up: %w", err)
	}
	stale := map[string]stateRecord{}
	for _, rec := range recs {
		if !rec.Owner.alive() {
			stale[rec.Name] = rec
		}
	}
	var errs []error
	if len(stale) > 0 {
		// Only cgroups with a stale record are ours to remove: others may
		// belong to a pipe process with another state dir.
		errs = append(errs, r.cg.cleanup(func(id string) bool { _, ok := stale[id]; return !ok }))
	}
	for _, rec := range stale {
		errs = append(errs, r.removeScratch(rec.Scratch), removeRecord(containersDir(r.opts), rec.Name))
	}
	errs = append(errs, r.cleanupNetNS())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("isolation: clean up after dead pipe processes: %w", err)
	}
	return nil
}

// removeScratch removes a container's scratch dir, which must lie in ScratchDir.
func (r *Runtime) removeScratch(dir string) error {
	if dir == "" || filepath.Dir(dir) != filepath.Clean(r.opts.ScratchDir) {
		return nil
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove scratch dir: %w", err)
	}
	return nil
}

// cleanupNetNS unmounts and removes the netns pins of dead pipe processes.
func (r *Runtime) cleanupNetNS() error {
	dir := netnsDir(r.opts)
	recs, err := readRecords(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, rec := range recs {
		if rec.Owner.alive() {
			continue
		}
		errs = append(errs, unpin(filepath.Join(dir, rec.Name)), removeRecord(dir, rec.Name))
	}
	return errors.Join(errs...)
}

// unpin unmounts and removes a netns pin file.
func unpin(pin string) error {
	if err := unix.Unmount(pin, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return &os.PathError{Op: "unmount netns pin", Path: pin, Err: err}
	}
	if err := os.Remove(pin); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
