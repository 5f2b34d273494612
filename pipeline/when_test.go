package pipeline

import "testing"

func TestWhenMatch(t *testing.T) {
	env := map[string]string{"DEPLOY": "yes", "TIER": "prod-eu"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	w := &When{
		Branch: []string{"main", "release/*", "!release/old-*"},
		Event:  []string{"push", "tag"},
		Env:    []EnvMatch{{"DEPLOY", "yes"}, {"TIER", "prod-*"}},
		Paths:  []string{"src/**", "!src/**/*_test.go"},
	}
	tests := []struct {
		name          string
		branch, event string
		changed       []string
		want          bool
	}{
		{"all match", "main", "push", []string{"src/a/b.go"}, true},
		{"release glob", "release/1.2", "tag", []string{"src/x.go"}, true},
		{"excluded branch", "release/old-1", "push", []string{"src/x.go"}, false},
		{"glob stays in segment", "release/1/2", "push", nil, false},
		{"other branch", "dev", "push", nil, false},
		{"other event", "main", "pull_request", nil, false},
		{"paths unknown", "main", "push", nil, true},
		{"no path matches", "main", "push", []string{"docs/x.md"}, false},
		{"only excluded paths", "main", "push", []string{"src/a/x_test.go"}, false},
		{"one path matches", "main", "push", []string{"docs/x.md", "src/y.go"}, true},
		{"no changes", "main", "push", []string{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := w.Match(tt.branch, tt.event, lookup, tt.changed); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
	env["DEPLOY"] = "no"
	if w.Match("main", "push", lookup, nil) {
		t.Error("env condition ignored")
	}
	if !(*When)(nil).Match("", "", nil, nil) {
		t.Error("a nil When must match")
	}
	if (&When{Env: []EnvMatch{{"X", "1"}}}).Match("", "", nil, nil) {
		t.Error("an unset variable must not match 1")
	}
}

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"**", "a/b/c", true},
		{"src/**", "src", true},
		{"src/**/*.go", "src/a.go", true},
		{"src/**/*.go", "src/x/y/a.go", true},
		{"src/*.go", "src/x/a.go", false},
		{"*.go", "a.go", true},
		{"a/**/b/**/c", "a/x/b/y/z/c", true},
		{"a/**/b", "a/c", false},
		{"[", "[", false},
	}
	for _, tt := range tests {
		if got := MatchGlob(tt.pattern, tt.name); got != tt.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}
