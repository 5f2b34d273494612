package gitlab

import (
	"testing"
	"time"
)

func TestEvalExpr(t *testing.T) {
	vars := map[string]string{"BRANCH": "main", "EMPTY": "", "TAG": "v1.2.3", "PATTERN": "/^v\\d+/", "ONE": "1"}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	for _, c := range []struct {
		expr string
		want bool
	}{
		{`$BRANCH`, true},
		{`$EMPTY`, false},
		{`$UNSET`, false},
		{`$BRANCH == "main"`, true},
		{`$BRANCH == 'main'`, true},
		{`$BRANCH != "main"`, false},
		{`${BRANCH} == "main"`, true},
		{`$UNSET == null`, true},
		{`$EMPTY == null`, false},
		{`$EMPTY == ""`, true},
		{`$UNSET == ""`, false},
		{`$TAG =~ /^v\d+\.\d+/`, true},
		{`$TAG !~ /^v\d+\.\d+/`, false},
		{`$BRANCH =~ /^MAIN$/i`, true},
		{`$BRANCH =~ /^MAIN$/`, false},
		{`$TAG =~ $PATTERN`, true},
		{`$UNSET =~ /.*/`, false},
		{`$BRANCH == "main" && $TAG`, true},
		{`$BRANCH == "dev" || $ONE == "1"`, true},
		{`$BRANCH == "dev" || $ONE == "1" && $EMPTY`, false},
		{`($BRANCH == "dev" || $ONE == "1") && $TAG`, true},
		{`$BRANCH == $BRANCH`, true},
		{`"a/b" =~ /a\/b/`, true},
	} {
		got, err := evalExpr(c.expr, lookup)
		if err != nil || got != c.want {
			t.Errorf("%s: %v, %v; want %v", c.expr, got, err, c.want)
		}
	}
	for _, bad := range []string{`$A ==`, `($A == "x"`, `$A == "x`, `$A =~ /x`, `$A =~ /x/q`, `A == B`, `$ == "x"`, `$A == "x" junk`} {
		if _, err := evalExpr(bad, lookup); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func TestServiceHosts(t *testing.T) {
	for _, c := range []struct{ alias, image, want string }{
		{"", "postgres:16", "[postgres]"},
		{"", "tutum/wordpress:latest", "[tutum__wordpress tutum-wordpress]"},
		{"db, pg", "mysql:8@sha256:abc", "[db pg mysql]"},
		{"db,database", "registry.example:5000/group/pg:16", "[db database]"},
		{"", "localhost:5000/redis", "[]"},
	} {
		if got := fmtList(serviceHosts(c.alias, c.image)); got != c.want {
			t.Errorf("%q %q: %s, want %s", c.alias, c.image, got, c.want)
		}
	}
}

func fmtList(l []string) string {
	s := "["
	for i, x := range l {
		if i > 0 {
			s += " "
		}
		s += x
	}
	return s + "]"
}

func TestSlugAndDurations(t *testing.T) {
	for in, want := range map[string]string{"feature/Add-Thing": "feature-add-thing", "--x--": "x", "": "", "v1.2.3": "v1-2-3"} {
		if got := slug(in); got != want {
			t.Errorf("slug(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]time.Duration{
		"1h 30m": 90 * time.Minute, "3 hours": 3 * time.Hour, "90 minutes": 90 * time.Minute, "1h30m": 90 * time.Minute,
		"3600": time.Hour, "1 day": 24 * time.Hour, "2 hours and 5 minutes": 125 * time.Minute, "10m, 30s": 10*time.Minute + 30*time.Second,
	} {
		if got, ok := parseDuration(in); !ok || got != want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "soon", "1 fortnight", "-1h"} {
		if _, ok := parseDuration(bad); ok {
			t.Errorf("parseDuration(%q) accepted", bad)
		}
	}
}

func TestExpandVars(t *testing.T) {
	vars := map[string]string{"A": "x", "B_1": "y"}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	for in, want := range map[string]string{
		"$A/${B_1}": "x/y", "$$A": "$A", "$UNSET-": "-", "$1": "$1", "a$": "a$", "${A": "${A", "$A$B_1$A": "xyx",
	} {
		if got := expandVars(in, lookup); got != want {
			t.Errorf("expandVars(%q) = %q, want %q", in, got, want)
		}
	}
}
