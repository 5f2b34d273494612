package github

import (
	"github.com/pipe-run/pipe/pipeline"
)

// The .pipe.yml a workflow becomes, before it is written out.

type kv struct{ name, value string }

type pipeFile struct {
	header   string // the comment at the top
	env      []kv
	secrets  []string
	caches   []cacheDecl
	services []*svcDecl
	steps    []*pipeStep
}

type cacheDecl struct{ name, path string }

type svcDecl struct {
	name    string
	origin  pipeline.Pos
	image   string
	env     []kv
	command []string
	ready   *readyDecl
	from    string   // the job that declared it first
	aliases []string // more host names: the job's key for a service renamed key-2
}

type readyDecl struct {
	run, interval, timeout string
	retries                int
}

type pipeStep struct {
	name     string
	origin   pipeline.Pos // the job's key
	comment  string
	image    string
	needs    []string
	env      []kv
	secrets  []string
	services []string
	caches   []string
	timeout  string
	user     string
	branch   []string // when.branch
	event    []string // when.event
	status   string   // when.status: "", failure, always
	manual   bool
	allow    bool
	outputs  []string
	run      []string
	axes     []matrixAxis // a pipe matrix: the job's matrix, with placeholders in the fields
	// fields maps a key of the step to where it came from in the workflow.
	fields map[string]pipeline.Pos
}

func addUnique(list []string, s string) []string {
	if contains(list, s) {
		return list
	}
	return append(list, s)
}
