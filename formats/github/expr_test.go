package github

import (
	"strings"
	"testing"
)

func testEval() *evaluator {
	sc := &jobScope{t: &translator{}, env: map[string]any{"GO": "1.22"}, stepIDs: map[string]bool{"build": true}}
	return &evaluator{contexts: map[string]any{
		"github": map[string]any{"ref": "refs/heads/main", "event_name": "push", "event": map[string]any{"ref": "refs/heads/main"}},
		"matrix": map[string]any{"os": "ubuntu-latest", "n": float64(2), "list": []any{"a", "b"}},
		"env":    sc.envContext(),
		"steps":  sc.stepsContext(),
	}, status: sc.status, where: "a test"}
}

// TestEval checks GitHub's expression semantics on known values.
func TestEval(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"github.ref == 'refs/heads/main'", "true"},
		{"github.ref == 'REFS/HEADS/MAIN'", "true"}, // strings compare case-insensitively
		{"github.ref != 'refs/heads/main'", "false"},
		{"github.event_name == 'push' && github.ref", "refs/heads/main"}, // && gives an operand
		{"'' || 'fallback'", "fallback"},
		{"startsWith(github.ref, 'refs/heads/')", "true"},
		{"endsWith(github.ref, '/MAIN')", "true"},
		{"contains(matrix.list, 'b')", "true"},
		{"contains('Hello world', 'WORLD')", "true"},
		{"!contains(matrix.list, 'c')", "true"},
		{"matrix.n == '2'", "true"}, // coerced to numbers
		{"matrix.n > 1 && matrix.n <= 2", "true"},
		{"matrix['os']", "ubuntu-latest"},
		{"github.nothing", ""},
		{"format('{0}-{1}-{{x}}', matrix.os, matrix.n)", "ubuntu-latest-2-{x}"},
		{"join(matrix.list, '+')", "a+b"},
		{"fromJSON('{\"a\": [1, 2]}').a[1]", "2"},
		{"toJSON(matrix.list)", "[\n  \"a\",\n  \"b\"\n]"},
		{"env.GO", "1.22"},
		{"null == false", "true"}, // both are 0 as numbers
		{"0 == false", "true"},
		{"0x10 == 16", "true"},
		{"'it''s'", "it's"},
		{"success()", "true"},
		{"failure() || always()", "true"},
		{"(1 == 1) && !(2 == 3)", "true"},
		{"github.event.*", "[\n  \"refs/heads/main\"\n]"},
	} {
		v, err := testEval().evalExpr(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if got := toString(v); got != tc.want {
			t.Errorf("%s = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

// TestEvalRuntime checks what is left to the job's shell: values known only
// when it runs become shell text.
func TestEvalRuntime(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"steps.build.outputs.v", `$(__gh_get 'out/build/v')`},
		{"steps.build.outputs.v == 'x'", `[ "$(__gh_get 'out/build/v')" = "x" ]`},
		{"steps.build.outputs.v != 'x'", `! [ "$(__gh_get 'out/build/v')" = "x" ]`},
		{"env.LATER && github.ref", `[ -n "${LATER-}" ]`},
		{"env.LATER || false", `[ -n "${LATER-}" ]`},
		{"env.LATER && false", "false"},
		{"startsWith(env.LATER, 'v')", `case "${LATER-}" in 'v'*) true;; *) false;; esac`},
		{"contains(fromJSON('[\"a\", \"b\"]'), env.LATER)", `case "${LATER-}" in 'a'|'b') true;; *) false;; esac`},
		{"!env.LATER", `! { [ -n "${LATER-}" ]; }`},
		{"steps.build.outcome == 'success'", `[ "$(__gh_get 'outcome.build')" = "success" ]`},
	} {
		v, err := testEval().evalExpr(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		got := toString(v)
		if d, ok := v.(*dyn); ok && d.cond != "" {
			got = d.cond
		}
		if got != tc.want {
			t.Errorf("%s = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

func TestEvalErrors(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{"nope.x", `unknown context "nope"`},
		{"github.ref ==", "unexpected end of expression"},
		{"'open", "unclosed string"},
		{"steps.later.outputs.x", "no earlier step has id later"},
		{"frob()", "unknown function frob()"},
		{"format('{3}', 1)", "names no argument"},
		{"steps.build.outputs.v < 3", "needs both sides known"},
		{"toJSON(steps.build.outputs)", "write steps.build.outputs.NAME"},
		{"a ~ b", "unexpected character"},
		{strings.Repeat("(", 200) + "1" + strings.Repeat(")", 200), "nested more than"},
		{strings.Repeat("!", 200) + "1", "nested more than"},
	} {
		_, err := testEval().evalExpr(tc.expr)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.expr, err, tc.want)
		}
	}
}

func TestFindExprs(t *testing.T) {
	spans, err := findExprs("a ${{ 'x}}y' }} b ${{ github.ref }}")
	if err != nil || len(spans) != 2 || spans[0].inner != "'x}}y'" || spans[1].inner != "github.ref" {
		t.Fatalf("%+v %v", spans, err)
	}
	if _, err := findExprs("a ${{ b"); err == nil {
		t.Error("an unclosed ${{ is no error")
	}
}
