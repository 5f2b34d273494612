// Package depcheck holds a test that keeps the import arrows of DESIGN.md:
// cmd/pipe -> executor -> {pipeline, cache, isolation, kube}, and the leaves
// import nothing of pipe's (their tests may use internal/ test helpers);
// and a test that keeps heavy packages out of the pipe binary (binary_test.go).
package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/pipe-run/pipe/"

// allowed maps a package to the pipe packages its non-test code may import.
var allowed = map[string][]string{
	"pipeline":  {},
	"cache":     {},
	"isolation": {},
	"kube":      {}, // pods on a cluster: a leaf like isolation
	"executor":  {"pipeline", "cache", "isolation", "kube", "internal"},
	"formats":   {"pipeline"}, // formats/gitlab, formats/github: translators into the pipeline model
	// Runner drivers are adapters onto the executor's jobs (DESIGN.md). They
	// may use a translator for a rule of its CI system that both must apply
	// alike (runner/gitlab: GitLab's service host names, from formats/gitlab).
	"runner": {"executor", "cache", "isolation", "formats"},
}

// above maps a subpackage to the packages of its own top that may import
// it: executor/job is built on executor (its env rules, its kept
// failures), so executor's other packages never import it.
var above = map[string][]string{
	"executor/job": {},
}

func TestImportArrows(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, "../../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], module)
		top := strings.SplitN(pkg, "/", 2)[0]
		ok, ruled := allowed[top]
		if !ruled {
			continue
		}
		for _, imp := range f[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.SplitN(strings.TrimPrefix(imp, module), "/", 2)[0]
			if users, ok := above[strings.TrimPrefix(imp, module)]; ok && dep == top && !contains(users, pkg) {
				t.Errorf("%s imports %s, which is built on %s: the arrow must run the other way", pkg, imp, top)
			}
			if dep == top {
				continue
			}
			if !contains(ok, dep) {
				t.Errorf("%s imports %s: DESIGN.md allows %s only %v", pkg, imp, top, ok)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
