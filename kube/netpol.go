package kube

import (
	"net"

	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	"github.com/pipe-run/pipe/kube/internal/k8s/intstr"
	metav1 "github.com/pipe-run/pipe/kube/internal/k8s/metav1"
	networkingv1 "github.com/pipe-run/pipe/kube/internal/k8s/networkingv1"
)

// buildNetworkPolicy denies the pod every ingress and every egress but TCP
// to the cache registry's addresses and ports (the agents fetch and push
// there). It selects the pod by LabelPod and is named like it.
//
// Only a network plugin that enforces NetworkPolicy (Calico, Cilium, ...)
// makes this real; with one that does not (a plain bridge) the policy is
// stored and ignored. A policy is per pod, so the step's container can
// reach the registry's port too.
func buildNetworkPolicy(pod, runID, host string, ips []net.IP, ports []int) *networkingv1.NetworkPolicy {
	var peers []networkingv1.NetworkPolicyPeer
	for _, ip := range ips {
		peers = append(peers, networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: hostCIDR(ip)}})
	}
	tcp := corev1.ProtocolTCP
	var np []networkingv1.NetworkPolicyPort
	for _, p := range ports {
		np = append(np, networkingv1.NetworkPolicyPort{Protocol: &tcp, Port: ptr(intstr.FromInt32(int32(p)))})
	}
	l := runLabels(runID)
	l[LabelPod] = pod
	return &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: pod, Labels: l, Annotations: map[string]string{AnnotationHost: host}},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{LabelPod: pod}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
			Ingress:     []networkingv1.NetworkPolicyIngressRule{},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{To: peers, Ports: np}},
		},
	}
}

// hostCIDR is ip as a one-address block.
func hostCIDR(ip net.IP) string {
	if v4 := ip.To4(); v4 != nil {
		return v4.String() + "/32"
	}
	return ip.String() + "/128"
}
