// Package intstr is the Kubernetes IntOrString (k8s.io/apimachinery/pkg/util/intstr):
// a port given as a number or a name.
package intstr

import (
	"encoding/json"
	"strconv"
)

// Type says which of IntOrString's values is set.
type Type int64

const (
	Int    Type = iota // IntVal is set
	String             // StrVal is set
)

// IntOrString encodes as a JSON number or a JSON string.
type IntOrString struct {
	Type   Type
	IntVal int32
	StrVal string
}

// FromInt32 is an IntOrString holding i.
func FromInt32(i int32) IntOrString { return IntOrString{Type: Int, IntVal: i} }

// FromInt is FromInt32(int32(i)).
func FromInt(i int) IntOrString { return FromInt32(int32(i)) }

// FromString is an IntOrString holding s.
func FromString(s string) IntOrString { return IntOrString{Type: String, StrVal: s} }

// String is the value as text.
func (v *IntOrString) String() string {
	if v == nil {
		return "<nil>"
	}
	if v.Type == String {
		return v.StrVal
	}
	return strconv.Itoa(int(v.IntVal))
}

// MarshalJSON encodes the set value.
func (v IntOrString) MarshalJSON() ([]byte, error) {
	if v.Type == String {
		return json.Marshal(v.StrVal)
	}
	return json.Marshal(v.IntVal)
}

// UnmarshalJSON decodes a number or a string.
func (v *IntOrString) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		v.Type, v.IntVal = String, 0
		return json.Unmarshal(b, &v.StrVal)
	}
	v.Type, v.StrVal = Int, ""
	return json.Unmarshal(b, &v.IntVal)
}

// IntValue is IntVal, or StrVal as a number (0 if it is none).
func (v *IntOrString) IntValue() int {
	if v.Type == String {
		i, _ := strconv.Atoi(v.StrVal)
		return i
	}
	return int(v.IntVal)
}
