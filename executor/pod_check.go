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
// a local container would: one cache volume mounted at two paths (see
// twiceMounted).
func checkPodSteps(steps []*pipeline.Step) error {
	var with []string
	for _, s := range steps {
		if name := twiceMounted(s); name != "" {
			with = append(with, fmt.Sprintf("%s: step %s (cache volume %s)", s.Pos, s.Name, name))
		}
	}
	if len(with) == 0 {
		return nil
	}
	return &PodUnsupportedError{Steps: with, What: "a cache volume mounted at two paths is",
		Hint: "mount each cache volume once per step, or run these steps with --backend local"}
}
