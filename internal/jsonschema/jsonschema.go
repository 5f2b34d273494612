// Package jsonschema validates decoded JSON against the small subset of JSON
// Schema that pipe's published schemas use. It is for tests: it checks that
// what pipe writes matches what it documents. It never fetches a $ref or
// reads a schema from anywhere but the bytes it is given.
package jsonschema

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// Schema is the subset of JSON Schema (2020-12) that pipe's event schema
// (executor/runlog/testdata/event.schema.json) uses: type, enum, const, required, properties,
// additionalProperties, propertyNames, minimum, minLength, pattern, format
// date-time, allOf, if/then. Unknown keywords are errors, so a schema
// cannot silently use something this validator ignores.
type Schema map[string]any

// validate returns the first violation of v (decoded JSON) against s.
func (s Schema) validate(path string, v any) error {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := s.keyword(k, path, v); err != nil {
			return err
		}
	}
	return nil
}

// keyword checks one keyword of s against v.
func (s Schema) keyword(k, path string, v any) error {
	arg := s[k]
	switch k {
	case "$schema", "$id", "title", "description", "then":
		return nil
	case "type":
		return checkType(path, arg.(string), v)
	case "enum":
		if !slices.ContainsFunc(arg.([]any), func(e any) bool { return e == v }) {
			return fmt.Errorf("%s: %v is not one of %v", path, v, arg)
		}
	case "const":
		if arg != v {
			return fmt.Errorf("%s: %v is not %v", path, v, arg)
		}
	case "minimum":
		if n, ok := v.(float64); ok && n < arg.(float64) {
			return fmt.Errorf("%s: %v < %v", path, n, arg)
		}
	case "minLength":
		if str, ok := v.(string); ok && len(str) < int(arg.(float64)) {
			return fmt.Errorf("%s: %q is too short", path, str)
		}
	case "pattern":
		if str, ok := v.(string); ok && !regexp.MustCompile(arg.(string)).MatchString(str) {
			return fmt.Errorf("%s: %q does not match %s", path, str, arg)
		}
	case "format":
		if str, ok := v.(string); ok && arg == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				return fmt.Errorf("%s: %q is not a date-time", path, str)
			}
		}
	case "required", "properties", "additionalProperties", "propertyNames":
		return s.object(k, path, v)
	case "allOf":
		return s.allOf(path, v)
	case "if":
		if sub(arg).validate(path, v) == nil && s["then"] != nil {
			return sub(s["then"]).validate(path, v)
		}
	default:
		return fmt.Errorf("schema keyword %q not supported by this validator", k)
	}
	return nil
}

// sub converts a decoded sub-schema.
func sub(v any) Schema { return Schema(v.(map[string]any)) }

// checkType checks a JSON type name.
func checkType(path, typ string, v any) error {
	ok := false
	switch typ {
	case "object":
		_, ok = v.(map[string]any)
	case "string":
		_, ok = v.(string)
	case "boolean":
		_, ok = v.(bool)
	case "integer":
		n, isNum := v.(float64)
		ok = isNum && n == math.Trunc(n)
	default:
		return fmt.Errorf("type %q not supported by this validator", typ)
	}
	if !ok {
		return fmt.Errorf("%s: %v is not %s", path, v, typ)
	}
	return nil
}

// object checks the object keywords.
func (s Schema) object(k, path string, v any) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	props, _ := s["properties"].(map[string]any)
	switch k {
	case "required":
		for _, r := range s[k].([]any) {
			if _, ok := obj[r.(string)]; !ok {
				return fmt.Errorf("%s: missing required %q", path, r)
			}
		}
	case "properties":
		for name, ps := range props {
			if pv, ok := obj[name]; ok {
				if err := sub(ps).validate(path+"."+name, pv); err != nil {
					return err
				}
			}
		}
	case "propertyNames":
		for name := range obj {
			if err := sub(s[k]).validate(path+" key", name); err != nil {
				return err
			}
		}
	case "additionalProperties":
		for name, pv := range obj {
			if _, known := props[name]; known {
				continue
			}
			switch ap := s[k].(type) {
			case bool:
				if !ap {
					return fmt.Errorf("%s: unknown property %q", path, name)
				}
			case map[string]any:
				if err := Schema(ap).validate(path+"."+name, pv); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// allOf checks every sub-schema.
func (s Schema) allOf(path string, v any) error {
	for _, ss := range s["allOf"].([]any) {
		if err := sub(ss).validate(path, v); err != nil {
			return err
		}
	}
	return nil
}

// Parse decodes a schema.
func Parse(b []byte) (Schema, error) {
	var s Schema
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return s, nil
}

// Validate returns the first violation of v (decoded JSON) against s; path
// names v in the error.
func (s Schema) Validate(path string, v any) error { return s.validate(path, v) }

// ValidateLines checks every line of a JSON-lines stream and returns one
// error per line that is not JSON or breaks s, each naming its line.
func (s Schema) ValidateLines(path, stream string) []error {
	var errs []error
	for i, line := range strings.Split(strings.TrimSpace(stream), "\n") {
		var v any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %v: %s", i+1, err, line))
			continue
		}
		if err := s.validate(path, v); err != nil {
			errs = append(errs, fmt.Errorf("line %d: %v\n%s", i+1, err, line))
		}
	}
	return errs
}
