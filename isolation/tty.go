package isolation

import (
	"fmt"

	"golang.org/x/term"
)

// MakeRaw puts the terminal fd in raw mode, as a TTY container process needs
// its caller's terminal to be (pipe does it itself for a Process whose Stdin
// is a terminal; the executor's debug command may call it too). restore puts
// the terminal back the way it was; call it exactly once.
func MakeRaw(fd int) (restore func(), err error) {
	old, err := term.MakeRaw(fd)
	if err != nil {
		return nil, fmt.Errorf("put terminal (fd %d) in raw mode: %w", fd, err)
	}
	return func() { _ = term.Restore(fd, old) }, nil
}

// IsTerminal says whether fd is a terminal.
func IsTerminal(fd int) bool { return term.IsTerminal(fd) }
