package isolation

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// The stored init is written once per key and reused as is; a copy of the
// wrong size is replaced; the handle runs and cannot be written through;
// only the latest initStoreKeep keys are kept; a bad key or bytes that are
// no executable are refused (New then falls back to the memfd).
func TestStoredInit(t *testing.T) {
	needsRoot(t)
	state := t.TempDir()
	bin, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	stat := func(key string) unix.Stat_t {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(state, "init", key, "pipe-init"), &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	f, err := storedInit(state, "k1", bin)
	if err != nil {
		t.Fatal(err)
	}
	if f.Fd() < minExeFD {
		t.Errorf("handle at fd %d, want at least %d", f.Fd(), minExeFD)
	}
	via := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
	run := exec.Command(via)
	run.Args = []string{"true"} // a busybox /bin/true (the VM guests') runs the applet its argv[0] names
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("exec the stored init: %v: %s", err, out)
	}
	for _, flag := range []int{os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_TRUNC} {
		if w, err := os.OpenFile(via, flag, 0); err == nil {
			w.Close()
			t.Errorf("opened the stored init's handle with flags %#x", flag)
		} else if !errors.Is(err, unix.EROFS) {
			t.Errorf("flags %#x: %v, want EROFS", flag, err)
		}
	}
	f.Close()
	first := stat("k1")
	g, err := storedInit(state, "k1", bin)
	if err != nil {
		t.Fatal(err)
	}
	g.Close()
	if again := stat("k1"); again.Ino != first.Ino || again.Mtim != first.Mtim {
		t.Error("the stored init was written again for the same key")
	}
	if err := os.Truncate(filepath.Join(state, "init", "k1", "pipe-init"), 10); err != nil {
		t.Fatal(err)
	}
	g, err = storedInit(state, "k1", bin)
	if err != nil {
		t.Fatalf("a truncated copy was not replaced: %v", err)
	}
	g.Close()
	if st := stat("k1"); st.Size != int64(len(bin)) {
		t.Errorf("stored size %d, want %d", st.Size, len(bin))
	}
	for i := 2; i <= 7; i++ {
		h, err := storedInit(state, fmt.Sprintf("k%d", i), bin)
		if err != nil {
			t.Fatal(err)
		}
		h.Close()
	}
	entries, _ := os.ReadDir(filepath.Join(state, "init"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != initStoreKeep || names[len(names)-1] != "k7" {
		t.Errorf("kept %v, want the %d latest keys, k7 among them, and no temporary dirs", names, initStoreKeep)
	}
	for _, key := range []string{"", ".hidden", "a/b", "../x"} {
		if h, err := storedInit(state, key, bin); err == nil {
			h.Close()
			t.Errorf("key %q accepted", key)
		}
	}
	if h, err := storedInit(state, "notelf", []byte("#!/bin/sh\n")); err == nil {
		h.Close()
		t.Error("a script was stored as the container init")
	}
}
