package isolation

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// The binary inits run from has an fd no child file takes: executed as
// /proc/self/fd/N after the child's fds 0-3 are set, a low N would run
// the init's socket instead (pipe debug under a terminal, with only stdio
// open, got fd 3 and every container failed with EACCES).
func TestSealedSelfFDAboveChildFiles(t *testing.T) {
	f, err := sealedSelf(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Fd() < minExeFD {
		t.Errorf("sealed binary at fd %d, want at least %d", f.Fd(), minExeFD)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	cmd := &exec.Cmd{Path: "/proc/self/fd/" + strconv.Itoa(int(f.Fd())), Args: []string{"x", "-test.run=^$"}, ExtraFiles: []*os.File{r, w}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("exec of the sealed binary with two extra files: %v\n%s", err, out)
	}
}
