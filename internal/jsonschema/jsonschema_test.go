package jsonschema

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	s, err := Parse([]byte(`{"type": "object", "required": ["a"],
		"properties": {"a": {"type": "integer", "minimum": 1}, "b": {"enum": ["x", "y"]}},
		"additionalProperties": false}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		line, want string // want: "" or a part of the error
	}{
		{`{"a": 2}`, ""},
		{`{"a": 2, "b": "y"}`, ""},
		{`{"b": "x"}`, `missing required "a"`},
		{`{"a": 0}`, "0 < 1"},
		{`{"a": 1.5}`, "is not integer"},
		{`{"a": 1, "b": "z"}`, "is not one of"},
		{`{"a": 1, "c": 1}`, `unknown property "c"`},
		{`{"a": 1`, "line 1"},
	} {
		errs := s.ValidateLines("event", c.line)
		switch {
		case c.want == "" && len(errs) > 0:
			t.Errorf("%s: %v", c.line, errs)
		case c.want != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), c.want)):
			t.Errorf("%s: got %v, want one error with %q", c.line, errs, c.want)
		}
	}
}

// A keyword the validator does not know is an error, not a pass.
func TestUnknownKeyword(t *testing.T) {
	s, err := Parse([]byte(`{"maxLength": 3}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate("v", "abcd"); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Errorf("unknown keyword: %v", err)
	}
}
