package github

import (
	"strings"
	"testing"
)

const selectWorkflow = `on: push
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: golangci/golangci-lint-action@v6
  build:
    runs-on: ubuntu-latest
    steps:
      - run: make
  test:
    needs: build
    runs-on: ubuntu-latest
    strategy: {matrix: {go: ["1.21", "1.22"]}}
    steps:
      - run: go test ./...
`

// A job that no named step needs does not stop the named ones: its
// problems become warnings and it is left out.
func TestSelectedLeavesOutOthers(t *testing.T) {
	ctx := testContext()
	if _, err := Translate("w.yml", []byte(selectWorkflow), ctx); err == nil || !strings.Contains(err.Error(), "w.yml:6:15: uses: golangci/golangci-lint-action@v6") {
		t.Fatalf("without targets: %v", err)
	}
	for _, sel := range []string{"test", "test[go=1.22]", "build"} {
		ctx.Selected = []string{sel}
		tr, err := Translate("w.yml", []byte(selectWorkflow), ctx)
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		if tr.Pipeline.Graph.Step("lint") != nil || tr.Pipeline.Graph.Step("build") == nil {
			t.Errorf("%s: lint kept or build left out", sel)
		}
		if !strings.Contains(tr.Warnings.Error(), "w.yml:6:15: job lint is left out (pipe runs only what the named steps need): uses: golangci/golangci-lint-action@v6") {
			t.Errorf("%s: warnings %v", sel, tr.Warnings)
		}
	}
	ctx.Selected = []string{"lint"}
	if _, err := Translate("w.yml", []byte(selectWorkflow), ctx); err == nil {
		t.Error("the named job's problem is no error")
	}
}
