package executor

import (
	"bytes"
	"strconv"
	"strings"
	"sync"

	"github.com/pipe-run/pipe/pipeline"
)

// scriptShell is the Shell field of every step key: the shell, its flags and
// the version of the script pipe generates around the step's commands.
// Change the version when the generated script changes what a step does.
const scriptShell = pipeline.Shell + " -e -c (pipe.script/v1)"

// stepScript returns the script a step's container runs with "sh -e -c".
//
// Both forms start with "exec 2>&1" on the script's first line, so that the
// step's stdout and stderr are one stream in the order they were written (the
// shell's line numbers in errors are unchanged). A script (run: a string) runs
// as written. A list of commands runs one after the other; before each, the
// shell prints a marker line "<marker> N" (N counts from 1) that pipe turns
// into its own "+ command" line and that tells which command is running, so a
// failure names it (and pipe debug --at N can stop before it). The marker holds
// a random token of the run, so a step's output cannot forge it. With sh -e the
// first failing command ends the step.
func stepScript(s *pipeline.Step, marker string) string {
	if s.Script {
		return "exec 2>&1; " + s.ScriptText()
	}
	var b strings.Builder
	b.WriteString("exec 2>&1\n")
	for i, c := range s.Run {
		b.WriteString("printf '%s\\n' '" + marker + " " + strconv.Itoa(i+1) + "'\n")
		b.WriteString(c)
		b.WriteString("\n")
	}
	return b.String()
}

// commandEcho sits between a step's output and its StepLog: it passes output
// through, and turns marker lines into pipe lines ("+ command") while
// remembering which command runs. It is safe for concurrent writes.
type commandEcho struct {
	mu       sync.Mutex
	marker   []byte // "<marker> "
	commands []string
	out      interface{ Write([]byte) (int, error) }
	note     func(format string, a ...any)
	atStart  bool   // the next byte starts a line
	pending  []byte // the start of a line that may be a marker
	current  int    // the command running now, 1-based; 0 before the first
}

func newCommandEcho(marker string, commands []string, out interface{ Write([]byte) (int, error) }, note func(string, ...any)) *commandEcho {
	return &commandEcho{marker: []byte(marker + " "), commands: commands, out: out, note: note, atStart: true}
}

// Current returns the number of the command that ran last (1-based), 0 when
// none has started.
func (e *commandEcho) Current() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.current
}

// Write passes p on, minus marker lines.
func (e *commandEcho) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		if !e.atStart && len(e.pending) == 0 {
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				_, err := e.out.Write(p)
				return n, err
			}
			if _, err := e.out.Write(p[:i+1]); err != nil {
				return n, err
			}
			p, e.atStart = p[i+1:], true
			continue
		}
		p = e.matchLine(p)
	}
	return n, nil
}

// matchLine consumes bytes at a line start that may be a marker line.
func (e *commandEcho) matchLine(p []byte) []byte {
	i := bytes.IndexByte(p, '\n')
	chunk := p
	if i >= 0 {
		chunk = p[:i+1]
	}
	e.pending = append(e.pending, chunk...)
	rest := p[len(chunk):]
	k := min(len(e.pending), len(e.marker))
	if !bytes.Equal(e.pending[:k], e.marker[:k]) {
		e.flushPending()
		return rest
	}
	if i < 0 {
		e.atStart = false
		return rest // wait for the rest of the line
	}
	line := strings.TrimSpace(string(e.pending[len(e.marker):]))
	if n, err := strconv.Atoi(line); err == nil && n >= 1 && n <= len(e.commands) {
		e.current = n
		e.note("+ %s", commandHead(e.commands[n-1]))
	} else {
		e.out.Write(e.pending)
	}
	e.pending, e.atStart = e.pending[:0], true
	return rest
}

// flushPending writes a line start that turned out not to be a marker.
func (e *commandEcho) flushPending() {
	e.out.Write(e.pending)
	e.atStart = e.pending[len(e.pending)-1] == '\n'
	e.pending = e.pending[:0]
}

// Flush writes what is held back (a partial line that looked like a marker).
func (e *commandEcho) Flush() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.pending) > 0 {
		e.flushPending()
	}
}

// commandHead shortens a multi-line command for its "+ command" line.
func commandHead(c string) string {
	c = strings.TrimSpace(c)
	if i := strings.IndexByte(c, '\n'); i >= 0 {
		return c[:i] + " …"
	}
	return c
}
