package pipeline

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

const pipelines = "../testdata/pipelines"

// TestValidGolden parses every valid pipeline and compares the resolved steps
// and every graph format with NAME.golden.
func TestValidGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(pipelines, "valid", "*.yml"))
	if len(files) < 5 {
		t.Fatalf("want at least 5 valid pipelines, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, err := Load(f)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			golden(t, strings.TrimSuffix(f, ".yml")+".golden", render(t, p))
		})
	}
}

// TestInvalidGolden parses every invalid pipeline and compares its errors
// with NAME.golden; each error must carry a position in the file.
func TestInvalidGolden(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(pipelines, "invalid", "*.yml"))
	if len(files) < 20 {
		t.Fatalf("want at least 20 invalid pipelines, found %d", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			p, err := Load(f)
			if err == nil {
				t.Fatalf("Load accepted an invalid pipeline: %d steps", len(p.Steps))
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, want ErrorList: %v", err, err)
			}
			for _, e := range list {
				if e.Pos.File != f || e.Pos.Line < 1 || e.Pos.Col < 1 {
					t.Errorf("error without a position in %s: %v", f, e)
				}
			}
			golden(t, strings.TrimSuffix(f, ".yml")+".golden", err.Error()+"\n")
		})
	}
}

// render prints a resolved pipeline: the summary, each step's fields, then
// the graph in every format.
func render(t *testing.T, p *Pipeline) string {
	var b strings.Builder
	fmt.Fprintf(&b, "== summary\n%s\n== steps\n", p.Graph.Summary())
	for _, s := range p.Steps {
		dumpStep(&b, s)
	}
	for _, f := range Formats() {
		fmt.Fprintf(&b, "== graph %s\n", f)
		if err := p.Graph.Write(&b, f); err != nil {
			t.Fatalf("Write %s: %v", f, err)
		}
	}
	return b.String()
}

func dumpStep(b *strings.Builder, s *Step) {
	fmt.Fprintf(b, "%s (base %s, line %d)\n", s.Name, s.Base, s.Pos.Line)
	field := func(name string, v any) { fmt.Fprintf(b, "  %s: %v\n", name, v) }
	field("image", s.Image)
	field("run", fmt.Sprintf("%q script=%v", s.Run, s.Script))
	field("needs", s.Needs)
	field("env", s.Environ())
	field("secrets", s.Secrets)
	field("workdir", s.Workdir)
	field("inputs", fmt.Sprintf("%q", s.Inputs))
	field("outputs", fmt.Sprintf("%q", s.Outputs))
	field("caches", s.Caches)
	for _, svc := range s.Services {
		field("service", fmt.Sprintf("%s image=%s env=%v command=%q shell=%v ready=%+v", svc.Name, svc.Image, svc.Environ(), svc.Command, svc.CommandShell, svc.Ready))
		if svc.Args != nil || svc.Aliases != nil || svc.WaitPorts {
			field("service "+svc.Name, fmt.Sprintf("args=%q aliases=%q wait_ports=%v", svc.Args, svc.Aliases, svc.WaitPorts))
		}
	}
	field("timeout", s.Timeout)
	field("retry", s.Retry)
	if s.When != nil {
		field("when", fmt.Sprintf("%+v", *s.When))
	}
	field("resources", fmt.Sprintf("%+v", s.Resources))
	field("network", s.Network)
	field("user", s.User)
	field("allow_failure", s.AllowFailure)
	if s.AllowExitCodes != nil {
		field("allow_exit_codes", s.AllowExitCodes)
	}
	if s.RunOn != RunOnSuccess {
		field("run_on", s.RunOn)
	}
	if s.Manual {
		field("manual", s.Manual)
	}
	if s.OutputsFrom != nil {
		field("outputs_from", s.OutputsFrom)
	}
	field("cache", s.Cache)
}

// golden compares got with the file, or rewrites the file with -update.
func golden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./pipeline -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; go test ./pipeline -update rewrites it):\n%s", file, diff)
	}
}
