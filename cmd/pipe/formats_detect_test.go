package main

import "testing"

// hasPipeTopKeyCases are files the fast format check must tell right: it
// may only say yes when decoding says formatPipe.
var hasPipeTopKeyCases = []struct {
	data string
	want bool
}{
	{"version: 1\nsteps:\n  a: {run: x}\n", true},
	{"# comment\n---\nsteps:\n  a: {run: x}\n", true},
	{"image: x\nsteps:\n", true},
	{"steps:\r\n", true},
	{"stages: [a]\njob:\n  script: \"echo\nsteps: x\"\n", false}, // a quoted scalar goes on at the start of a line
	{"job: [1,\nsteps: 2]\n", false},                             // so does a flow collection
	{"job:\n  script: x\n---\nversion: 1\n", false},              // a later document
	{"stepsx: 1\n", false},
	{"  steps: 1\n", false},
	{"on: push\njobs:\n  a:\n    steps:\n      - run: x\n", false},
}

func TestHasPipeTopKey(t *testing.T) {
	for _, tc := range hasPipeTopKeyCases {
		if got := hasPipeTopKey([]byte(tc.data)); got != tc.want {
			t.Errorf("hasPipeTopKey(%q) = %v, want %v", tc.data, got, tc.want)
		}
		if tc.want && decodedFormat([]byte(tc.data)) != formatPipe {
			t.Errorf("%q: the fast check says pipe, decoding says %s", tc.data, decodedFormat([]byte(tc.data)))
		}
	}
}

func FuzzHasPipeTopKey(f *testing.F) {
	for _, tc := range hasPipeTopKeyCases {
		f.Add(tc.data)
	}
	f.Fuzz(func(t *testing.T, data string) {
		if hasPipeTopKey([]byte(data)) && decodedFormat([]byte(data)) != formatPipe {
			t.Fatalf("%q: the fast check says pipe, decoding says %s", data, decodedFormat([]byte(data)))
		}
	})
}
