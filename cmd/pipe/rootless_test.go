package main

import (
	"strings"
	"testing"
)

func TestWantsUserNS(t *testing.T) {
	for args, want := range map[string]bool{
		"run": true, "run build -j 2": true, "--color never run": true, "--color=never debug x": true,
		"image pull x": true, "cache prune --all": true,
		"logs": true, "validate": false, "graph": false, "version": false, "": false, "--help": false,
	} {
		if got := wantsUserNS(splitArgs(args)); got != want {
			t.Errorf("wantsUserNS(%q) = %v, want %v", args, got, want)
		}
	}
}

func splitArgs(s string) []string { return strings.Fields(s) }
