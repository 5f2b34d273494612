//go:build pipeinit

package main

import _ "embed"

// pipeInit is cmd/pipe-init, built by make build just before pipe (the
// pipeinit tag): containers' inits run it instead of pipe's whole binary,
// and start without pipe's package inits.
//
//go:embed pipe-init.bin
var pipeInit []byte

// embeddedInit is the container init built into this pipe.
func embeddedInit() []byte { return pipeInit }
