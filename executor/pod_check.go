package executor

import (
	"fmt"
	"strings"

	"github.com/pipe-run/pipe/pipeline"
)

// PodUnsupportedError says selected steps use what pods cannot do yet.
type PodUnsupportedError struct {
	Steps []string // "file:line:col: step NAME", one per step
	What  string   // what they use
	Hint  string   // what to do
}

func (e *PodUnsupportedError) Error() string {
	return fmt.Sprintf("%s not supported on the kubernetes backend: %s; %s", e.What, strings.Join(e.Steps, ", "), e.Hint)
}

// checkPodSteps refuses, before any step runs, steps a pod cannot run as
// a local container would: a step's cache volumes live in this machine's
// store, which pods cannot mount.
func checkPodSteps(steps []*pipeline.Step) error {
	var with []string
	for _, s := range steps {
		if len(s.Caches) > 0 {
			with = append(with, fmt.Sprintf("%s: step %s", s.Pos, s.Name))
		}
	}
	if len(with) == 0 {
		return nil
	}
	return &PodUnsupportedError{Steps: with, What: "cache volumes (caches:) are",
		Hint: "remove caches: from these steps or run them with --backend local (pods cannot mount this machine's cache volumes yet)"}
}
