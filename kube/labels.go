package kube

import (
	"k8s.io/apimachinery/pkg/labels"
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
	return labels.SelectorFromSet(runLabels(runID)).String()
}

// pipeSelector selects every object pipe made, of any run.
func pipeSelector() string {
	return labels.SelectorFromSet(labels.Set{LabelManagedBy: ManagedByPipe}).String()
}
