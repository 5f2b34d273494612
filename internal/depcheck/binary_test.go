package depcheck

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// binary is the package of pipe's one binary. Every pipe process and every
// container init (pipe re-executes itself as the init) runs the package
// inits of all its dependencies before main, so a heavy import costs every
// step, not only the code that uses it.
const binary = module + "cmd/pipe"

// banned are import path prefixes the binary must not depend on, with why.
var banned = []struct{ prefix, why string }{
	{"k8s.io/client-go/kubernetes", "the typed clientset and its scheme register every API group at init (~10 ms per process); kube uses rest.RESTClient on a scheme of its own (kube/client_rest.go)"},
	{"k8s.io/client-go/applyconfigurations", "it pulls in the typed clientset's scheme and the OpenAPI models"},
	{"k8s.io/client-go/informers", "it pulls in the typed clientset"},
	{"k8s.io/client-go/listers", "it pulls in every API group's types"},
	{"k8s.io/client-go/discovery", "it pulls in the OpenAPI client and its protobuf models"},
}

// apiGroups are the only k8s.io/api packages kube's requests need: each
// other group's init builds its own tables for nothing.
var apiGroups = []string{"k8s.io/api/core/v1", "k8s.io/api/networking/v1"}

func TestBinaryDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", binary).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", binary, err)
	}
	deps := strings.Fields(string(out))
	if !contains(deps, "k8s.io/client-go/rest") {
		t.Fatalf("%s does not depend on k8s.io/client-go/rest: this test no longer looks at what kube uses", binary)
	}
	for _, b := range banned {
		if hit := matching(deps, func(d string) bool { return d == b.prefix || strings.HasPrefix(d, b.prefix+"/") }); len(hit) > 0 {
			t.Errorf("%s depends on %s (%d packages): %s; %s", binary, b.prefix, len(hit), b.why, findImporter(hit[0]))
		}
	}
	if hit := matching(deps, func(d string) bool { return strings.HasPrefix(d, "k8s.io/api/") && !contains(apiGroups, d) }); len(hit) > 0 {
		t.Errorf("%s depends on the API groups %v: kube needs only %v, and each group costs init time in every pipe process; %s", binary, hit, apiGroups, findImporter(hit[0]))
	}
}

// findImporter says how to find who imports pkg.
func findImporter(pkg string) string {
	return fmt.Sprintf(`find who imports it with: go list -deps -f '{{.ImportPath}}: {{join .Imports " "}} ' ./cmd/pipe | grep -F ' %s '`, pkg)
}

// matching is the elements of list that ok accepts.
func matching(list []string, ok func(string) bool) []string {
	var out []string
	for _, s := range list {
		if ok(s) {
			out = append(out, s)
		}
	}
	return out
}
