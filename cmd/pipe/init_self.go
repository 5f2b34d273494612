//go:build !pipeinit

package main

// embeddedInit is nil in a pipe built without the pipeinit tag (a plain go
// build): containers' inits are then pipe itself, re-executed.
func embeddedInit() []byte { return nil }

// embeddedInitKey is "": there is no init to keep.
func embeddedInitKey() string { return "" }
