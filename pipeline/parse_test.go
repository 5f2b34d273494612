package pipeline

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestInterpolation(t *testing.T) {
	p := mustParse(t, `version: 1
env:
  REG: registry.example:5000/acme
  IMG: ${REG}/tools
  PRICE: $$5 and $HOME
steps:
  a:
    matrix: {v: ["1", "2"]}
    image: ${IMG}:${matrix.v}
    env:
      IMG: ${IMG}-v${matrix.v}
      DERIVED: ${IMG}/x
    workdir: src/${matrix.v}
    user: "${matrix.v}000"
    run: echo ${matrix.v} $IMG ${IMG} $$ $${matrix.v}
`)
	s := p.Graph.Step("a[v=2]")
	if s == nil {
		t.Fatal("no step a[v=2]")
	}
	want := []string{"REG=registry.example:5000/acme", "IMG=registry.example:5000/acme/tools-v2", "PRICE=$5 and $HOME", "DERIVED=registry.example:5000/acme/tools-v2/x"}
	if diff := cmp.Diff(want, s.Environ()); diff != "" {
		t.Errorf("Env (-want +got):\n%s", diff)
	}
	checks := map[string][2]string{
		"image":   {s.Image, "registry.example:5000/acme/tools-v2:2"},
		"workdir": {s.Workdir, "/workspace/src/2"},
		"user":    {s.User, "2000"},
		"run":     {s.Run[0], "echo 2 $IMG ${IMG} $$ $2"},
		"argv":    {strings.Join(s.Argv(), " "), "/bin/sh -e -c echo 2 $IMG ${IMG} $$ $2"},
	}
	for k, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", k, c[0], c[1])
		}
	}
}

func TestDefaults(t *testing.T) {
	p := mustParse(t, "version: 1\nimage: alpine\nsteps:\n  a:\n    run: [make, make test]\n")
	s := p.Steps[0]
	if s.Timeout != DefaultTimeout || s.Network != NetworkNone || !s.Cache || s.Workdir != Workspace ||
		s.Inputs != nil || s.Outputs != nil || s.When != nil || s.Script || s.ScriptText() != "make\nmake test" {
		t.Errorf("defaults wrong: %+v", s)
	}
}

// TestErrorFormat checks the printed form: sorted, one per line, with hints.
func TestErrorFormat(t *testing.T) {
	_, err := Parse("x.yml", []byte("version: 1\nsteps:\n  b: {run: x, imgae: y}\n  a: {needs: [c], run: x, image: z}\n"))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("err = %v", err)
	}
	want := `x.yml:3:3: step b has no image (add image: to the step, or a default image: at the top of the file)
x.yml:3:15: step b: unknown key "imgae" (did you mean "image"?)
x.yml:4:15: a.needs: unknown step "c" (name a step of this file)`
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestAliasBomb checks that merge keys cannot make the decoder do
// exponential work.
func TestAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("version: 1\nx-0: &a0 {k: v}\n")
	for i := 1; i < 30; i++ {
		b.WriteString("x-" + strconv.Itoa(i) + ": &a" + strconv.Itoa(i) + " {<<: [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + strconv.Itoa(i-1))
		}
		b.WriteString("]}\n")
	}
	b.WriteString("steps:\n  a:\n    <<: *a29\n    run: x\n")
	_, err := Parse("bomb.yml", []byte(b.String()))
	if err == nil {
		t.Fatal("accepted")
	}
}
