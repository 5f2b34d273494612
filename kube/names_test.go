package kube

import (
	"regexp"
	"strings"
	"testing"
)

var (
	dns1123Label = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	labelValueRe = regexp.MustCompile(`^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`)
)

func TestDNSLabel(t *testing.T) {
	for _, tc := range []struct {
		in   string
		same bool // kept as is
	}{
		{"build", true}, {"build-1", true}, {"Build", false}, {"my_step.x", false},
		{"--a--b--", false}, {"", false}, {"ünïcode", false}, {"../../etc", false},
		{strings.Repeat("a", 40), true}, {strings.Repeat("a", 41), false}, {"-", false},
	} {
		got := dnsLabel(tc.in, 40)
		if !dns1123Label.MatchString(got) || len(got) > 40 {
			t.Errorf("dnsLabel(%q) = %q: not a DNS-1123 label of at most 40", tc.in, got)
		}
		if (got == tc.in) != tc.same {
			t.Errorf("dnsLabel(%q) = %q, want kept as is: %v", tc.in, got, tc.same)
		}
	}
	if dnsLabel("Build", 40) == dnsLabel("build", 40) {
		t.Error("Build and build map to one name")
	}
	if dnsLabel("a_b", 40) == dnsLabel("a.b", 40) {
		t.Error("a_b and a.b map to one name")
	}
}

func TestLabelValue(t *testing.T) {
	for _, in := range []string{"Build_all", "x", "a b", "_lead", strings.Repeat("Z", 70), "step/with/slashes", "", "ü"} {
		got := labelValue(in)
		if got == "" || len(got) > 63 || !labelValueRe.MatchString(got) {
			t.Errorf("labelValue(%q) = %q: not a label value", in, got)
		}
	}
	if labelValue("Build_all") != "Build_all" {
		t.Error("a valid label value was changed")
	}
}

func TestPodNameUniqueAndValid(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		n := podName("Some_Step.Name-with-a-very-long-tail-that-goes-on-and-on")
		if !dns1123Label.MatchString(n) || len(n) > 63 {
			t.Fatalf("pod name %q is not a DNS-1123 label", n)
		}
		if seen[n] {
			t.Fatalf("pod name %q twice", n)
		}
		seen[n] = true
	}
}

func TestSecretNames(t *testing.T) {
	n := secretName("20261128T120000Z-abcd1234")
	if !dns1123Label.MatchString(n) || !strings.HasPrefix(n, "pipe-") {
		t.Errorf("secret name %q", n)
	}
	keyRe := regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
	for _, name := range []string{"TOKEN", "a_b", strings.Repeat("X", 300)} {
		k := secretEnvKey("pod-abc123", name)
		if !keyRe.MatchString(k) || len(k) > 253 {
			t.Errorf("secret key %q is not a valid Secret key", k)
		}
	}
	if secretEnvKey("p", strings.Repeat("X", 300)) == secretEnvKey("p", strings.Repeat("X", 301)) {
		t.Error("two long names share a key")
	}
}
