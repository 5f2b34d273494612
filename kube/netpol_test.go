package kube

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"

	corev1 "github.com/pipe-run/pipe/kube/internal/k8s/corev1"
	metav1 "github.com/pipe-run/pipe/kube/internal/k8s/metav1"
	networkingv1 "github.com/pipe-run/pipe/kube/internal/k8s/networkingv1"
)

func TestNetworkPolicyDeniesAllButTheRegistry(t *testing.T) {
	np := buildNetworkPolicy("p-abc", "run-1", "h", []net.IP{net.ParseIP("10.244.0.1"), net.ParseIP("fd00::1")}, []int{5000})
	sp := np.Spec
	if sp.PodSelector.MatchLabels[LabelPod] != "p-abc" || len(sp.PodSelector.MatchLabels) != 1 {
		t.Errorf("selector %v", sp.PodSelector)
	}
	if len(sp.PolicyTypes) != 2 || len(sp.Ingress) != 0 {
		t.Errorf("policy types %v, ingress %v: want both types and no ingress rule", sp.PolicyTypes, sp.Ingress)
	}
	if len(sp.Egress) != 1 || len(sp.Egress[0].To) != 2 || len(sp.Egress[0].Ports) != 1 {
		t.Fatalf("egress %+v", sp.Egress)
	}
	cidrs := []string{sp.Egress[0].To[0].IPBlock.CIDR, sp.Egress[0].To[1].IPBlock.CIDR}
	if strings.Join(cidrs, ",") != "10.244.0.1/32,fd00::1/128" {
		t.Errorf("cidrs %v", cidrs)
	}
	p := sp.Egress[0].Ports[0]
	if *p.Protocol != corev1.ProtocolTCP || p.Port.IntValue() != 5000 {
		t.Errorf("port %+v", p)
	}
	if np.Labels[LabelRun] != "run-1" || np.Labels[LabelManagedBy] != "pipe" {
		t.Errorf("labels %v", np.Labels)
	}
}

// A registry named by host: the policy holds the address found on the
// coordinator, and the pod gets the name by hostAliases (no DNS there).
func TestNetworkNoneByNameAndLookupFailure(t *testing.T) {
	b, client, _ := fakeBackend(t)
	var pod *corev1.Pod
	var np *networkingv1.NetworkPolicy
	done := kubelet(t, client, func(p *corev1.Pod) {
		pod = p
		np, _ = typed(client).getNetworkPolicy(context.Background(), testNS, p.Name)
		setStatus(t, client, p.Name, func(st *corev1.PodStatus) {
			st.InitContainerStatuses = afterPush(`{"unchanged":true}`)
			st.ContainerStatuses = []corev1.ContainerStatus{terminated(ContainerStep, 0, "Completed", "")}
		})
	})
	s := simpleStep()
	s.NetworkNone = true
	if _, err := b.Run(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	<-done
	if np == nil || np.Spec.Egress[0].To[0].IPBlock.CIDR != "10.1.2.3/32" || np.Spec.Egress[0].Ports[0].Port.IntValue() != 5000 {
		t.Errorf("policy %+v", np)
	}
	found := false
	for _, h := range pod.Spec.HostAliases {
		found = found || (h.IP == "10.1.2.3" && len(h.Hostnames) == 1 && h.Hostnames[0] == "reg.test")
	}
	if !found {
		t.Errorf("host aliases %+v lack reg.test", pod.Spec.HostAliases)
	}

	b.lookupIP = func(context.Context, string) ([]net.IP, error) { return nil, errors.New("no such host") }
	_, err := b.Run(context.Background(), s)
	var se *StepError
	if !errors.As(err, &se) || se.Field != "network" || !strings.Contains(err.Error(), "reg.test") {
		t.Fatalf("err = %v", err)
	}
	if l, _ := typed(client).listPods(context.Background(), testNS, metav1.ListOptions{}); len(l.Items) != 0 {
		t.Error("a pod was made without its NetworkPolicy")
	}
}
