package main

import (
	"fmt"
	"io"
	"os"

	"github.com/fatih/color"
	"golang.org/x/term"
)

// output holds how pipe prints: where to, and whether in colour.
type output struct {
	stdout, stderr io.Writer
	colorMode      string
	color          bool
}

// setup decides on colour: only on a terminal, never with NO_COLOR or --color=never.
func (o *output) setup() error {
	switch o.colorMode {
	case "always":
		o.color = true
	case "never":
		o.color = false
	case "auto", "":
		_, noColor := os.LookupEnv("NO_COLOR")
		o.color = !noColor && isTerminal(o.stdout)
	default:
		return usageError("--color: %q is not one of auto, always, never", o.colorMode)
	}
	return nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (o *output) paint(attr color.Attribute, s string) string {
	if !o.color {
		return s
	}
	c := color.New(attr)
	c.EnableColor()
	return c.Sprint(s)
}

func (o *output) red(s string) string    { return o.paint(color.FgRed, s) }
func (o *output) green(s string) string  { return o.paint(color.FgGreen, s) }
func (o *output) yellow(s string) string { return o.paint(color.FgYellow, s) }
func (o *output) bold(s string) string   { return o.paint(color.Bold, s) }
func (o *output) faint(s string) string  { return o.paint(color.Faint, s) }

func (o *output) printf(format string, a ...any) { fmt.Fprintf(o.stdout, format, a...) }
