package networkingv1

// The policy types of a NetworkPolicy.
const (
	PolicyTypeIngress PolicyType = "Ingress"
	PolicyTypeEgress  PolicyType = "Egress"
)
