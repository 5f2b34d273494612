//go:build pipeinit

package main

import (
	_ "embed"

	"github.com/pipe-run/pipe/isolation"
)

// pipeInit is cmd/pipe-init, built by make build just before pipe (the
// pipeinit tag): containers' inits run it instead of pipe's whole binary,
// and start without pipe's package inits.
//
//go:embed pipe-init.bin
var pipeInit []byte

// embeddedInit is the container init built into this pipe.
func embeddedInit() []byte { return pipeInit }

// embeddedInitKey names the embedded init (isolation.Options.InitKey): the
// Runtime keeps one copy of it per pipe binary instead of one per run.
func embeddedInitKey() string { return isolation.ExecutableKey() }
