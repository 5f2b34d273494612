package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/pipe-run/pipe/cache"
	"github.com/pipe-run/pipe/isolation"
)

// Rootless: an ordinary user's pipe runs the commands that touch containers
// or the store in a user namespace of its own, where the user is root
// (isolation.EnterUserNS). The mode is read once, here, from
// isolation.CurrentUserNS and handed to the store and the runtime
// explicitly; nothing keys on euid == 0, which holds inside the namespace.

// userNSCommands are the top-level commands that run in the user namespace.
var userNSCommands = map[string]bool{"run": true, "debug": true, "image": true, "cache": true, "logs": true}

// maybeEnterUserNS runs the command in a user namespace when it needs one
// and pipe is not root: it returns the exit code and true then.
func maybeEnterUserNS(args []string, stderr io.Writer) (int, bool) {
	if !wantsUserNS(args) || !isolation.NeedsUserNS() {
		return 0, false
	}
	code, err := isolation.EnterUserNS(func(msg string) { fmt.Fprintf(stderr, "warning: %s\n", msg) })
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return ExitInfra, true
	}
	return code, true
}

// wantsUserNS says whether args name one of userNSCommands.
func wantsUserNS(args []string) bool {
	root := &cobra.Command{Use: "pipe"}
	root.PersistentFlags().String("color", "", "")
	for name := range userNSCommands {
		root.AddCommand(&cobra.Command{Use: name, DisableFlagParsing: true, Run: func(*cobra.Command, []string) {}})
	}
	c, _, err := root.Find(args)
	return err == nil && c != root && userNSCommands[c.Name()]
}

// storeRoot is where the store lives for this pipe process.
func storeRoot() string {
	if u := isolation.CurrentUserNS(); u != nil {
		return cache.UserRoot(u.UID)
	}
	return cache.DefaultRoot()
}

// openStore opens pipe's store: rootless, with the user namespace's map.
func openStore() (*cache.Store, error) {
	u := isolation.CurrentUserNS()
	if u == nil {
		return cache.Open(storeRoot())
	}
	return cache.OpenRootless(storeRoot(), cache.Rootless{UIDMap: u.UIDMapText(), GIDMap: u.GIDMapText(), Single: u.Single()})
}

// runtimeOptions are the isolation options of this pipe process.
func runtimeOptions(o *output, strictLimits bool) isolation.Options {
	return isolation.Options{
		IODevicePath: storeRoot(), UserNS: isolation.CurrentUserNS(), StrictLimits: strictLimits, Init: embeddedInit(), InitKey: embeddedInitKey(),
		Warn: func(msg string) { fmt.Fprintf(o.stderr, "%s %s\n", o.yellow("warning:"), msg) },
	}
}
