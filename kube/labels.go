package kube

import (
	"slices"
	"strings"
)

// The labels and annotations every object of pipe's carries. The first three
// are the contract with the executor's docs (BRIEF); LabelPod selects one
// pod for its NetworkPolicy.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedByPipe  = "pipe"
	LabelRun       = "pipe.run/run"
	LabelStep      = "pipe.run/step"
	LabelPod       = "pipe.run/pod"

	// AnnotationHost names the machine whose pipe made the object: Prune
	// only judges runs of its own host, since keepRun can only check local
	// runs (another machine's live run must not look dead).
	AnnotationHost = "pipe.run/host"
	// AnnotationStep holds the step's name as is (the label is sanitised).
	AnnotationStep = "pipe.run/step-name"
)

// runLabels are the labels of every object of a run.
func runLabels(runID string) map[string]string {
	return map[string]string{LabelManagedBy: ManagedByPipe, LabelRun: runID}
}

// runSelector selects every object of a run.
func runSelector(runID string) string {
	return equalitySelector(runLabels(runID), nil)
}

// pipeSelector selects every object pipe made, of any run.
func pipeSelector() string {
	return equalitySelector(map[string]string{LabelManagedBy: ManagedByPipe}, nil)
}

// fieldSelector is a field selector requiring every field of set to
// equal its value.
func fieldSelector(set map[string]string) string {
	return equalitySelector(set, fieldEscaper)
}

// fieldEscaper escapes a field selector's value as the API server reads it.
var fieldEscaper = strings.NewReplacer(`\`, `\\`, `,`, `\,`, `=`, `\=`)

// equalitySelector is "k1=v1,k2=v2" in key order, as labels.Set and
// fields.Set write it; esc, if set, escapes the values.
func equalitySelector(set map[string]string, esc *strings.Replacer) string {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := set[k]
		if esc != nil {
			v = esc.Replace(v)
		}
		parts[i] = k + "=" + v
	}
	return strings.Join(parts, ",")
}
