package gitlab

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pipe-run/pipe/formats"
)

// Hostile files end in an error or a translation, in bounded time and
// memory: variables that double at each level, alias bombs, defaults
// copied into many jobs.
func TestHostileFiles(t *testing.T) {
	var vars strings.Builder
	vars.WriteString("variables:\n")
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&vars, "  V%d: \"$V%d$V%d$V%d$V%d\"\n", i, i+1, i+1, i+1, i+1)
	}
	vars.WriteString("  V40: xxxxxxxxxxxxxxxx\nimage: alpine\njob: {script: [echo $V0]}\n")
	bomb := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 'b'; i <= 'k'; i++ {
		bomb += fmt.Sprintf("%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	var many strings.Builder
	many.WriteString("x: &x [a, b, c, d, e, f, g, h, i, j]\ny: &y [*x, *x, *x, *x, *x, *x, *x, *x, *x, *x]\nz: &z [*y, *y, *y, *y, *y, *y, *y, *y, *y, *y]\n")
	many.WriteString("default:\n  image: alpine\n  before_script: [*z, *z, *z, *z, *z]\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&many, "j%d: {script: [x]}\n", i)
	}
	for name, data := range map[string]string{"variables": vars.String(), "alias bomb": bomb, "defaults": many.String()} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := Translate(".gitlab-ci.yml", []byte(data), formats.Context{Branch: "main"})
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %s", d)
			}
			if err == nil {
				t.Errorf("no error")
			}
		})
	}
}
