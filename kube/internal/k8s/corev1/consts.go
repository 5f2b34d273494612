package corev1

import "github.com/pipe-run/pipe/kube/internal/k8s/resource"

// The values of upstream's enumerations that pipe uses.
const (
	PodPending   PodPhase = "Pending"
	PodRunning   PodPhase = "Running"
	PodSucceeded PodPhase = "Succeeded"
	PodFailed    PodPhase = "Failed"

	PodScheduled           PodConditionType = "PodScheduled"
	PodReasonUnschedulable                  = "Unschedulable"

	ConditionTrue    ConditionStatus = "True"
	ConditionFalse   ConditionStatus = "False"
	ConditionUnknown ConditionStatus = "Unknown"

	RestartPolicyNever           RestartPolicy            = "Never"
	ContainerRestartPolicyAlways ContainerRestartPolicy   = "Always"
	PullIfNotPresent             PullPolicy               = "IfNotPresent"
	TerminationMessageReadFile   TerminationMessagePolicy = "File"
	DNSNone                      DNSPolicy                = "None"
	ProtocolTCP                  Protocol                 = "TCP"
	NodeSelectorOpIn             NodeSelectorOperator     = "In"

	SeccompProfileTypeRuntimeDefault SeccompProfileType = "RuntimeDefault"

	TaintEffectNoSchedule TaintEffect = "NoSchedule"
	TaintEffectNoExecute  TaintEffect = "NoExecute"

	NodeReady NodeConditionType = "Ready"

	ResourceCPU    ResourceName = "cpu"
	ResourceMemory ResourceName = "memory"

	SecretTypeDockerConfigJson SecretType = "kubernetes.io/dockerconfigjson"
	DockerConfigJsonKey                   = ".dockerconfigjson"

	EventTypeNormal  = "Normal"
	EventTypeWarning = "Warning"
)

// DeepCopy copies the list (quantities are immutable values).
func (rl ResourceList) DeepCopy() ResourceList {
	if rl == nil {
		return nil
	}
	out := make(ResourceList, len(rl))
	for k, v := range rl {
		out[k] = v.DeepCopy()
	}
	return out
}

// DeepCopy is a copy of e that shares nothing with it.
func (e *Event) DeepCopy() *Event {
	if e == nil {
		return nil
	}
	out := *e
	out.ObjectMeta = e.ObjectMeta.DeepCopy()
	if e.Series != nil {
		s := *e.Series
		out.Series = &s
	}
	if e.Related != nil {
		r := *e.Related
		out.Related = &r
	}
	return &out
}

// Cpu is the list's CPU quantity, else 0.
func (rl ResourceList) Cpu() *resource.Quantity { return rl.get(ResourceCPU) }

// Memory is the list's memory quantity, else 0.
func (rl ResourceList) Memory() *resource.Quantity { return rl.get(ResourceMemory) }

func (rl ResourceList) get(name ResourceName) *resource.Quantity {
	if q, ok := rl[name]; ok {
		return &q
	}
	return &resource.Quantity{}
}
