package executor

import (
	"bytes"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/pipe-run/pipe/pipeline"
)

// noteRecorder collects pipe lines.
type noteRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (n *noteRecorder) note(format string, a ...any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lines = append(n.lines, fmt.Sprintf(format, a...))
}

func TestStepScriptEchoesEachCommand(t *testing.T) {
	st := &pipeline.Step{Run: []string{"echo one", "echo two >&2", "false", "echo never"}}
	const marker = "::pipe-abc123::"
	var out bytes.Buffer
	var notes noteRecorder
	echo := newCommandEcho(marker, st.Run, &out, notes.note)
	cmd := exec.Command("/bin/sh", "-e", "-c", stepScript(st, marker))
	cmd.Stdout = echo
	err := cmd.Run()
	echo.Flush()
	if err == nil {
		t.Fatal("the failing command did not stop the step")
	}
	if out.String() != "one\ntwo\n" {
		t.Errorf("output %q", out.String())
	}
	if got := strings.Join(notes.lines, "|"); got != "+ echo one|+ echo two >&2|+ false" {
		t.Errorf("notes %q", got)
	}
	if echo.Current() != 3 {
		t.Errorf("current %d, want 3", echo.Current())
	}
}

func TestStepScriptKeepsAScript(t *testing.T) {
	st := &pipeline.Step{Run: []string{"echo a\necho b >&2\n"}, Script: true}
	out, err := exec.Command("/bin/sh", "-e", "-c", stepScript(st, "m")).Output()
	if err != nil || string(out) != "a\nb\n" {
		t.Errorf("%q %v", out, err)
	}
}

func TestCommandEchoSplitWrites(t *testing.T) {
	var out bytes.Buffer
	var notes noteRecorder
	e := newCommandEcho("::m::", []string{"make\nall", "b"}, &out, notes.note)
	in := "x\n::m:: 1\n::m: not a marker\n::m:: 9\npartial ::m:: 2\n::m:: 2\nend"
	for i := 0; i < len(in); i++ { // byte by byte
		e.Write([]byte{in[i]})
	}
	e.Flush()
	if want := "x\n::m: not a marker\n::m:: 9\npartial ::m:: 2\nend"; out.String() != want {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	if got := strings.Join(notes.lines, "|"); got != "+ make …|+ b" {
		t.Errorf("notes %q", got)
	}
}
