package metav1

import (
	"bytes"
	"encoding/json"
	"time"
)

// Time is a time.Time that encodes as RFC 3339 in UTC, to the second, and
// as null when zero, as upstream's metav1.Time.
type Time struct {
	time.Time
}

// Now is the current local time.
func Now() Time { return Time{time.Now()} }

// NewTime wraps t.
func NewTime(t time.Time) Time { return Time{t} }

// IsZero reports whether t is nil or the zero time.
func (t *Time) IsZero() bool { return t == nil || t.Time.IsZero() }

// MarshalJSON encodes t as an RFC 3339 string, or null.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.Time.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339))
}

// UnmarshalJSON decodes an RFC 3339 string or null.
func (t *Time) UnmarshalJSON(b []byte) error {
	return unmarshalTime(b, &t.Time, time.RFC3339)
}

// MicroTime is Time to the microsecond (an Event's eventTime).
type MicroTime struct {
	time.Time
}

// RFC3339Micro is MicroTime's layout.
const RFC3339Micro = "2006-01-02T15:04:05.000000Z07:00"

// IsZero reports whether t is nil or the zero time.
func (t *MicroTime) IsZero() bool { return t == nil || t.Time.IsZero() }

// MarshalJSON encodes t as RFC3339Micro, or null.
func (t MicroTime) MarshalJSON() ([]byte, error) {
	if t.Time.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(RFC3339Micro))
}

// UnmarshalJSON decodes an RFC 3339 string or null.
func (t *MicroTime) UnmarshalJSON(b []byte) error {
	return unmarshalTime(b, &t.Time, RFC3339Micro)
}

func unmarshalTime(b []byte, t *time.Time, layout string) error {
	if bytes.Equal(b, []byte("null")) {
		*t = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == "" {
		*t = time.Time{}
		return nil
	}
	p, err := time.Parse(layout, s)
	if err != nil {
		if p, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return err
		}
	}
	*t = p.Local()
	return nil
}
