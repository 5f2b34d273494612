// Command ptyrun runs a command on a fresh pseudo-terminal and plays a
// dialogue with it, as a user at a terminal would: each EXPECT is awaited in
// the output (a substring, 120 s at most) and its SEND typed after it. It
// copies everything the command prints to stdout and exits with the
// command's exit code, or 125 when an EXPECT never comes. The VM checks use
// it for pipe debug, which opens a shell only on a terminal.
//
// Usage: ptyrun [EXPECT SEND]... -- COMMAND [ARG...]
package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/creack/pty"
)

// transcript is what the command has printed so far.
type transcript struct {
	mu  sync.Mutex
	buf bytes.Buffer
	off int // where the next EXPECT is searched from
}

func (t *transcript) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.Write(p)
}

// await waits until s appears after the last match.
func (t *transcript) await(s string, limit time.Duration) bool {
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		t.mu.Lock()
		i := strings.Index(t.buf.String()[t.off:], s)
		if i >= 0 {
			t.off += i + len(s)
		}
		t.mu.Unlock()
		if i >= 0 {
			return true
		}
	}
	return false
}

func main() {
	args := os.Args[1:]
	sep := -1
	for i, a := range args {
		if a == "--" {
			sep = i
			break
		}
	}
	if sep < 0 || sep%2 != 0 || sep == len(args)-1 {
		fmt.Fprintln(os.Stderr, "usage: ptyrun [EXPECT SEND]... -- COMMAND [ARG...]")
		os.Exit(2)
	}
	cmd := exec.Command(args[sep+1], args[sep+2:]...)
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 160})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ptyrun:", err)
		os.Exit(2)
	}
	var out transcript
	go io.Copy(io.MultiWriter(os.Stdout, &out), tty)
	for i := 0; i < sep; i += 2 {
		if !out.await(args[i], 120*time.Second) {
			fmt.Fprintf(os.Stderr, "\nptyrun: %q never came\n", args[i])
			cmd.Process.Kill()
			os.Exit(125)
		}
		tty.Write([]byte(args[i+1]))
	}
	err = cmd.Wait()
	time.Sleep(100 * time.Millisecond) // the last output
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		os.Exit(exit.ExitCode())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ptyrun:", err)
		os.Exit(2)
	}
}
