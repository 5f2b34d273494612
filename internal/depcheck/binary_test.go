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
// Kubernetes' own Go modules, and what they bring, cost ~2.5 ms of CPU in
// package inits and page faults in every pipe process (a `pipe run` is
// ~12 ms in all), even one that never dials a cluster: kube speaks the API
// with its own types (kube/internal/k8s), client (kube/internal/rest) and
// kubeconfig loader (kube/internal/kubeconfig). Tests may still use
// client-go; test dependencies do not enter the binary.
var banned = []struct{ prefix, why string }{
	{"k8s.io", "Kubernetes' modules (api, apimachinery, client-go, klog, utils, kube-openapi): kube has its own API types and client"},
	{"sigs.k8s.io", "structured-merge-diff, yaml, json: only client-go needs them (kube reads kubeconfigs with gopkg.in/yaml.v3)"},
	{"github.com/json-iterator/go", "apimachinery's JSON; kube uses encoding/json"},
	{"github.com/modern-go", "json-iterator's reflection helpers"},
	{"github.com/davecgh/go-spew", "apimachinery's object dumps"},
	{"gopkg.in/inf.v0", "apimachinery's resource.Quantity; kube has its own"},
	{"github.com/fxamacker/cbor", "apimachinery's CBOR serializer"},
	{"github.com/gogo/protobuf", "the API types' protobuf"},
	{"google.golang.org/protobuf", "client-go's protobuf and OpenAPI models"},
	{"github.com/google/gnostic-models", "client-go's OpenAPI models"},
	{"github.com/emicklei/go-restful", "kube-openapi's REST description"},
	{"github.com/go-openapi", "kube-openapi's OpenAPI helpers"},
	{"github.com/x448/float16", "the CBOR serializer's floats"},
}

// client is kube's API client: the test checks that it still looks at a
// binary that can talk to a cluster.
const client = module + "kube/internal/rest"

func TestBinaryDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", binary).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", binary, err)
	}
	deps := strings.Fields(string(out))
	if !contains(deps, client) {
		t.Fatalf("%s does not depend on %s: this test no longer looks at what kube uses", binary, client)
	}
	for _, b := range banned {
		if hit := matching(deps, func(d string) bool { return d == b.prefix || strings.HasPrefix(d, b.prefix+"/") }); len(hit) > 0 {
			t.Errorf("%s depends on %s (%d packages: %s): %s; %s", binary, b.prefix, len(hit), strings.Join(hit, " "), b.why, findImporter(hit[0]))
		}
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
